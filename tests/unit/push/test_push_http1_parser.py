"""The HTTP/1.1 response reader of Http1Transport: framing, limits, keep-alive."""

import pytest

from connectors.push.http1_parser import ResponseParser


def feed_all(raw: bytes, chunk: int | None = None, max_body: int = 1024):
    parser = ResponseParser(max_body)
    pieces = [raw] if chunk is None else [raw[i : i + chunk] for i in range(0, len(raw), chunk)]
    result = None
    for piece in pieces:
        assert result is None, "response completed before all bytes were fed"
        result = parser.feed(piece)
    return parser, result


@pytest.mark.parametrize("chunk", [None, 1, 7])
def test_content_length_in_any_split(chunk):
    raw = b"HTTP/1.1 201 Created\r\nLocation: /m/1\r\nContent-Length: 5\r\n\r\nhello"
    parser, response = feed_all(raw, chunk)
    assert (response.status, response.body) == (201, b"hello")
    assert response.headers["location"] == "/m/1"
    assert parser.keep_alive


@pytest.mark.parametrize("chunk", [None, 1, 3])
def test_chunked_with_extensions_and_trailers(chunk):
    raw = (
        b"HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n"
    )
    _, response = feed_all(raw, chunk)
    assert (response.status, response.body) == (400, b"hello world")


def test_body_framed_by_close():
    parser = ResponseParser(1024)
    assert parser.feed(b"HTTP/1.1 410 Gone\r\n\r\ngone for") is None
    assert parser.feed(b" good") is None
    response = parser.feed_eof()
    assert (response.status, response.body) == (410, b"gone for good")
    assert not parser.keep_alive


def test_eof_before_a_framed_body_ends_is_no_response():
    parser = ResponseParser(1024)
    parser.feed(b"HTTP/1.1 201 Created\r\nContent-Length: 10\r\n\r\nabc")
    assert parser.feed_eof() is None


def test_interim_100_continue_is_skipped():
    _, response = feed_all(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
    assert response.status == 201


def test_204_has_no_body_even_with_a_length():
    _, response = feed_all(b"HTTP/1.1 204 No Content\r\n\r\n")
    assert (response.status, response.body) == (204, b"")


@pytest.mark.parametrize(
    "raw, keep",
    [
        (b"HTTP/1.1 201 Created\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", False),
        (b"HTTP/1.0 201 Created\r\nContent-Length: 0\r\n\r\n", False),
        (b"HTTP/1.1 201 Created\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", True),
        # a second, unasked-for response: answer the first, drop the connection
        (b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\n\r\n", False),
    ],
)
def test_keep_alive(raw, keep):
    parser, response = feed_all(raw)
    assert response.status == 201
    assert parser.keep_alive is keep


@pytest.mark.parametrize(
    "raw, words",
    [
        (b"HTTP/2 201\r\n\r\n", "bad status line"),
        (b"SSH-2.0-OpenSSH\r\n\r\n", "bad status line"),
        (b"HTTP/1.1 20 OK\r\n\r\n", "bad status line"),
        (b"HTTP/1.1 2010 OK\r\n\r\n", "bad status line"),
        (b"HTTP/1.1 101 Switching Protocols\r\n\r\n", "protocol switch"),
        (b"HTTP/1.1 201 Created\r\nno colon here\r\n\r\n", "bad header line"),
        (b"HTTP/1.1 201 Created\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", "conflicting"),
        (b"HTTP/1.1 201 Created\r\nContent-Length: -1\r\n\r\n", "bad content-length"),
        (b"HTTP/1.1 201 Created\r\nContent-Length: 99999\r\n\r\n", "over the limit"),
        (b"HTTP/1.1 201 Created\r\nTransfer-Encoding: gzip\r\n\r\n", "unsupported framing"),
        (b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", "unsupported framing"),
        (b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk size"),
        (b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY", "not followed by CRLF"),
        (b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n7ff\r\n" + b"a" * 2047, "over 1024"),
        (b"HTTP/1.1 410 Gone\r\n\r\n" + b"a" * 2000, "over 1024"),
        (b"HTTP/1.1 201 Created\r\nX: " + b"a" * 20000, "head over"),
    ],
)
def test_malformed_responses_raise(raw, words):
    with pytest.raises(ValueError, match=words):
        feed_all(raw)


def test_reset_readies_the_parser_for_the_next_response():
    parser, first = feed_all(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
    parser.reset()
    second = parser.feed(b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno")
    assert (first.status, second.status, second.body) == (201, 404, b"no")


def test_a_well_formed_head_gives_lower_case_names_and_trimmed_values():
    _, response = feed_all(b"HTTP/1.1 201 Created\r\nLocation:  https://p.example/m/0 \t\r\n"
                           b"X-Empty:\r\nContent-Length: 0\r\n\r\n")
    assert response.headers == {"location": "https://p.example/m/0", "x-empty": "", "content-length": "0"}


def test_repeated_names_in_a_well_formed_head_are_read_line_by_line():
    _, response = feed_all(b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\ncontent-length: 2\r\n\r\nok")
    assert (response.status, response.body) == (201, b"ok")
    with pytest.raises(ValueError, match="repeated transfer-encoding"):
        feed_all(b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n")
