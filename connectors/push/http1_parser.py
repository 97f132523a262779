"""Reads one HTTP/1.1 response from bytes as they arrive (for `Http1Transport`).

Strict where a mistake could desynchronise a kept-alive connection (framing, lengths,
chunk sizes), bounded in what it keeps (head 16 KiB, body `max_body`), and tolerant of
what does not matter (reason phrases, header case, interim 1xx responses).
"""

from __future__ import annotations

from connectors.push.transport import PushResponse

MAX_HEAD = 16 * 1024
_NO_BODY = (204, 304)


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
                if end < 0:
                    if len(buf) > MAX_HEAD:
                        raise ValueError(f"response head over {MAX_HEAD} bytes")
                    self._buf = buf
                    return None
                head, buf = buf[:end], buf[end + 4 :]
                if not self._read_head(head):
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
                if end < 0:
                    if len(buf) > 1024:
                        raise ValueError("chunk size line too long")
                    self._buf = buf
                    return None
                size_text = buf[:end].split(b";", 1)[0].strip()
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
                if end < 0:
                    if len(buf) > MAX_HEAD:
                        raise ValueError("trailers too long")
                    self._buf = buf
                    return None
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

    def _read_head(self, head: bytes) -> bool:
        lines = head.decode("latin-1").split("\r\n")
        status_line = lines[0]
        version, _, rest = status_line.partition(" ")
        code = rest[:3]
        if (
            version not in ("HTTP/1.1", "HTTP/1.0")
            or len(code) != 3
            or not code.isdigit()
            or rest[3:4] not in ("", " ")
        ):
            raise ValueError(f"bad status line {status_line[:80]!r}")
        status = int(code)
        if 100 <= status < 200:
            if status == 101:
                raise ValueError("unexpected protocol switch")
            return False
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep or not name or name[0] in " \t" or name[-1] in " \t":
                raise ValueError(f"bad header line {line[:80]!r}")
            key = name.lower()
            text = value.strip()
            if key in headers and key in ("content-length", "transfer-encoding"):
                if headers[key] != text:
                    raise ValueError(f"conflicting {key} headers")
            headers[key] = text
        self._status = status
        self._headers = headers
        connection = headers.get("connection", "").lower()
        self.keep_alive = version == "HTTP/1.1" and "close" not in connection
        encoding = headers.get("transfer-encoding")
        length = headers.get("content-length")
        if status in _NO_BODY:
            self._mode = "done"
        elif encoding is not None:
            if encoding.lower() != "chunked" or length is not None:
                raise ValueError(f"unsupported framing: transfer-encoding {encoding!r}")
            self._mode = "chunk-size"
        elif length is not None:
            if not length.isdigit() or len(length) > 12:
                raise ValueError(f"bad content-length {length[:20]!r}")
            self._remaining = int(length)
            if self._remaining > self.max_body:
                raise ValueError(f"response body of {self._remaining} bytes is over the limit")
            self._mode = "length" if self._remaining else "done"
        else:
            self._mode = "eof"
            self.keep_alive = False
        return True

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
