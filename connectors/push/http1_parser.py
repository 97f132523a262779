"""Reads one HTTP/1.1 response from bytes as they arrive (for `Http1Transport`).

Strict where a mistake could desynchronise a kept-alive connection (framing, lengths,
chunk sizes), bounded in what it keeps (head 16 KiB, body `max_body`), and tolerant of
what does not matter (reason phrases, header case, interim 1xx responses).

Never looser than RFC 9112 as h11 reads it (tests/unit/push/test_fuzz_http1_parser.py fuzzes
the two against each other): header names are tokens, values hold no control
characters, lines end in CRLF. A response a conforming parser would frame differently
is refused, not guessed at.
"""

from __future__ import annotations

import re
from operator import itemgetter

from connectors.push.transport import PushResponse

MAX_HEAD = 16 * 1024
_NO_BODY = (204, 304)
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # all but HTAB
# A header line: a token, a colon, a value without control characters (HTAB allowed).
_FIELD = re.compile(r"([-!#$%&'*+.^_`|~0-9A-Za-z]+):([^\x00-\x08\x0a-\x1f\x7f]*)")
# A whole well-formed head (status line and header lines, as _read_head checks them one by
# one) in one match: what every push service sends takes this path, ~2x faster.
_WELL_FORMED_HEAD = re.compile(
    rb"HTTP/1\.[01] [1-9][0-9][0-9](?: [^\x00-\x08\x0a-\x1f\x7f]*)?"
    rb"(?:\r\n[-!#$%&'*+.^_`|~0-9A-Za-z]+:[^\x00-\x08\x0a-\x1f\x7f]*)*"
)
# (name, value without surrounding spaces and tabs) of each line of a well-formed head:
# trimmed by the expression, so the dict below is built in C, without a loop in Python
_PAIRS = re.compile(r"\r\n([^:]+):[ \t]*((?:[^\r]*[^\r \t])?)[ \t]*")


_NAME, _VALUE = itemgetter(0), itemgetter(1)


class ResponseParser:
    """`feed(data)` returns the `PushResponse` once complete, else None; raises ValueError
    on a malformed response. `keep_alive` tells whether the connection can be reused."""

    __slots__ = ("max_body", "_buf", "_status", "_headers", "_mode", "_remaining", "_body", "_size", "keep_alive")

    def __init__(self, max_body: int):
        self.max_body = max_body
        self.reset()

    def reset(self) -> None:
        self._buf = b""
        self._status = 0
        self._headers: dict[str, str] = {}
        # head | length | chunk-size | chunk-data | chunk-end | trailers | eof | done
        self._mode = "head"
        self._remaining = 0
        self._body: list[bytes] = []
        self._size = 0
        self.keep_alive = False

    def feed(self, data: bytes) -> PushResponse | None:
        buf = self._buf + data if self._buf else data
        self._buf = b""
        while True:
            mode = self._mode
            if mode == "head":
                end = buf.find(b"\r\n\r\n")
                well_formed = end >= 0 and _WELL_FORMED_HEAD.fullmatch(buf, 0, end) is not None
                if not well_formed and _bare_lf(buf if end < 0 else buf[: end + 4]):
                    # Some parsers end lines at a bare LF, some do not: never guess.
                    raise ValueError("a line of the response head ends in LF without CR")
                if end < 0:
                    if len(buf) > MAX_HEAD:
                        raise ValueError(f"response head over {MAX_HEAD} bytes")
                    self._buf = buf
                    return None
                head, buf = buf[:end], buf[end + 4 :]
                if not self._read_head(head, well_formed):
                    continue  # an interim 1xx response: the real one follows
                if self._mode == "done":
                    return self._finish(buf)
            elif mode == "length":
                take = buf[: self._remaining]
                self._append(take)
                self._remaining -= len(take)
                buf = buf[len(take) :]
                if self._remaining:
                    return None
                return self._finish(buf)
            elif mode == "chunk-size":
                end = buf.find(b"\r\n")
                if _bare_lf(buf if end < 0 else buf[: end + 2]):
                    raise ValueError("a chunk size line ends in LF without CR")
                if end < 0:
                    if len(buf) > 1024:
                        raise ValueError("chunk size line too long")
                    self._buf = buf
                    return None
                size_text = buf[:end].split(b";", 1)[0].rstrip(b" \t")  # no space before the size
                buf = buf[end + 2 :]
                if not size_text or len(size_text) > 8 or size_text.strip(b"0123456789abcdefABCDEF"):
                    raise ValueError(f"bad chunk size {size_text[:20]!r}")
                size = int(size_text, 16)
                if size == 0:
                    self._mode = "trailers"
                else:
                    self._remaining = size
                    self._mode = "chunk-data"
            elif mode == "chunk-data":
                take = buf[: self._remaining]
                self._append(take)
                self._remaining -= len(take)
                buf = buf[len(take) :]
                if self._remaining:
                    return None
                self._mode = "chunk-end"
            elif mode == "chunk-end":
                if len(buf) < 2:
                    self._buf = buf
                    return None
                if buf[:2] != b"\r\n":
                    raise ValueError("chunk data not followed by CRLF")
                buf = buf[2:]
                self._mode = "chunk-size"
            elif mode == "trailers":
                if buf.startswith(b"\r\n"):
                    return self._finish(buf[2:])
                end = buf.find(b"\r\n\r\n")
                if _bare_lf(buf if end < 0 else buf[: end + 4]):
                    raise ValueError("a trailer line ends in LF without CR")
                if end < 0:
                    if len(buf) > MAX_HEAD:
                        raise ValueError("trailers too long")
                    self._buf = buf
                    return None
                for line in buf[:end].decode("latin-1").split("\r\n"):
                    _field(line)  # read as headers are, and dropped
                return self._finish(buf[end + 4 :])
            elif mode == "eof":
                self._append(buf)
                return None
            else:
                raise ValueError("data after a complete response")

    def feed_eof(self) -> PushResponse | None:
        """The connection closed: the response if it was framed by the close, else None."""
        if self._mode == "eof":
            self._mode = "done"
            self.keep_alive = False
            return PushResponse(self._status, self._headers, b"".join(self._body))
        return None

    def _read_head(self, head: bytes, well_formed: bool = False) -> bool:
        """`well_formed`: `head` matched _WELL_FORMED_HEAD, so its lines need no check."""
        text = head.decode("latin-1")
        status_line = text.partition("\r\n")[0]
        version, _, rest = status_line.partition(" ")
        code = rest[:3]
        if not well_formed and (
            version not in ("HTTP/1.1", "HTTP/1.0")
            or len(code) != 3
            or not (code.isascii() and code.isdigit())
            or code[0] == "0"  # status codes run from 100
            or rest[3:4] not in ("", " ")
            or _CONTROL.search(rest)
        ):
            raise ValueError(f"bad status line {status_line[:80]!r}")
        status = int(code)
        if well_formed:
            pairs = _PAIRS.findall(text, len(status_line))
            headers = dict(zip(map(str.lower, map(_NAME, pairs)), map(_VALUE, pairs)))
            if len(headers) < len(pairs):  # a repeated name: checked line by line below
                headers = self._read_fields(text.split("\r\n")[1:])
        else:
            headers = self._read_fields(text.split("\r\n")[1:])
        if 100 <= status < 200:
            if status == 101:
                raise ValueError("unexpected protocol switch")
            return False
        self._status = status
        self._headers = headers
        connection = headers.get("connection", "").lower()
        self.keep_alive = version == "HTTP/1.1" and "close" not in connection
        encoding = headers.get("transfer-encoding")
        length = headers.get("content-length")
        # Checked even where no body follows (204, 304): a malformed header is a malformed
        # response. isascii: str.isdigit() also takes digits such as "²".
        if length is not None and not (length.isascii() and length.isdigit() and len(length) <= 12):
            raise ValueError(f"bad content-length {length[:20]!r}")
        if encoding is not None and (encoding.lower() != "chunked" or length is not None):
            raise ValueError(f"unsupported framing: transfer-encoding {encoding!r}")
        if status in _NO_BODY:
            self._mode = "done"
        elif encoding is not None:
            self._mode = "chunk-size"
        elif length is not None:
            self._remaining = int(length)
            if self._remaining > self.max_body:
                raise ValueError(f"response body of {self._remaining} bytes is over the limit")
            self._mode = "length" if self._remaining else "done"
        else:
            self._mode = "eof"
            self.keep_alive = False
        return True

    @staticmethod
    def _read_fields(lines: list[str]) -> dict[str, str]:
        """Header lines, each checked; an interim response's too: a bad one is no response
        to skip."""
        headers: dict[str, str] = {}
        field = _FIELD.fullmatch
        for line in lines:
            match = field(line)
            if match is None:
                raise ValueError(f"bad header line {line[:80]!r}")
            name, value = match.groups()
            key, text = name.lower(), value.strip(" \t")
            if key in headers and key == "transfer-encoding":  # "chunked, chunked": unsupported
                raise ValueError("repeated transfer-encoding header")
            if key in headers and key == "content-length" and headers[key] != text:
                raise ValueError(f"conflicting {key} headers")
            headers[key] = text
        return headers

    def _append(self, data: bytes) -> None:
        if data:
            self._body.append(data)
            self._size += len(data)
            if self._size > self.max_body:
                raise ValueError(f"response body over {self.max_body} bytes")

    def _finish(self, rest: bytes) -> PushResponse:
        if rest:  # more than one response: answer this one, but drop the connection
            self.keep_alive = False
        self._mode = "done"
        return PushResponse(self._status, self._headers, b"".join(self._body))


def _bare_lf(data: bytes) -> bool:
    return data.count(b"\n") != data.count(b"\r\n")


def _field(line: str) -> tuple[str, str]:
    """A header or trailer line: (lower-case name, value without surrounding space)."""
    match = _FIELD.fullmatch(line)
    if match is None:
        raise ValueError(f"bad header line {line[:80]!r}")
    name, value = match.groups()
    return name.lower(), value.strip(" \t")
