"""Http1Transport against raw TCP servers that misbehave in the ways networks do."""

import asyncio

import pytest

from connectors.push import AllowList, TransportError
from connectors.push.http1 import Http1Transport
from connectors.push.transport import PushRequest

pytestmark = pytest.mark.integration

OK = b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"


class RawServer:
    """Reads one request at a time; `answer(n, head)` returns bytes to send, a 1-tuple of
    bytes to send and then close silently, or None to close without answering."""

    def __init__(self, answer):
        self.answer = answer
        self.connections = 0
        self.requests = 0
        self.open_now = 0
        self.peak_open = 0

    async def __aenter__(self):
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        self.origin = f"http://127.0.0.1:{self.port}"
        return self

    async def __aexit__(self, *exc):
        self.server.close()

    async def _serve(self, reader, writer):
        self.connections += 1
        self.open_now += 1
        self.peak_open = max(self.peak_open, self.open_now)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
                self.requests += 1
                reply = self.answer(self.requests, head)
                if asyncio.iscoroutine(reply):
                    reply = await reply
                if reply is None:
                    break
                close_after = isinstance(reply, tuple)
                writer.write(reply[0] if close_after else reply)
                await writer.drain()
                if close_after:  # answered, then gone without saying so (an idle timeout)
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.open_now -= 1
            writer.close()


def transport_for(server, **kwargs):
    return Http1Transport(address_guard=AllowList(origins=[server.origin]).permits_address, **kwargs)


def request(server, path="/p", timeout=5.0):
    return PushRequest(server.origin + path, {"TTL": "60", "Topic": "t"}, b"body", timeout)


async def test_request_line_and_headers_are_well_formed():
    heads = []

    def answer(n, head):
        heads.append(head)
        return OK

    async with RawServer(answer) as server:
        transport = transport_for(server)
        await transport.send(request(server, "/wp/abc?x=1"))
        await transport.close()
    lines = heads[0].decode().split("\r\n")
    assert lines[0] == "POST /wp/abc?x=1 HTTP/1.1"
    assert f"Host: 127.0.0.1:{server.port}" in lines
    assert "TTL: 60" in lines and "Topic: t" in lines and "Content-Length: 4" in lines


async def test_garbage_is_a_protocol_error():
    async with RawServer(lambda n, head: b"SSH-2.0-OpenSSH_9.6\r\n\r\n") as server:
        transport = transport_for(server)
        with pytest.raises(TransportError) as caught:
            await transport.send(request(server))
        await transport.close()
    assert caught.value.kind == "protocol"


async def test_a_close_without_answer_is_a_reset():
    async with RawServer(lambda n, head: None) as server:
        transport = transport_for(server)
        with pytest.raises(TransportError) as caught:
            await transport.send(request(server))
        await transport.close()
    assert caught.value.kind == "reset"


@pytest.mark.parametrize("pause", [0.0, 0.05])
async def test_a_kept_alive_connection_the_server_dropped_is_replaced_transparently(pause):
    # Without a pause the second request usually races the server's close: it is written
    # to the dying connection and must be sent again on a new one; with a pause the dead
    # connection is noticed in the pool.
    async with RawServer(lambda n, head: (OK,)) as server:
        transport = transport_for(server)
        assert (await transport.send(request(server))).status == 201
        await asyncio.sleep(pause)
        assert (await transport.send(request(server))).status == 201
        await transport.close()
    assert server.connections == 2 and server.requests == 2


async def test_connection_close_means_a_new_connection_next_time():
    close = b"HTTP/1.1 201 Created\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    async with RawServer(lambda n, head: close) as server:
        transport = transport_for(server)
        for _ in range(3):
            assert (await transport.send(request(server))).status == 201
        await transport.close()
    assert server.connections == 3


async def test_keep_alive_reuses_and_the_pool_bounds_connections():
    async def answer(n, head):
        await asyncio.sleep(0.01)
        return OK

    async with RawServer(answer) as server:
        transport = transport_for(server, max_connections_per_origin=2)
        responses = await asyncio.gather(*(transport.send(request(server)) for _ in range(10)))
        await transport.close()
    assert [r.status for r in responses] == [201] * 10
    assert server.connections == 2 and server.peak_open == 2 and server.requests == 10


async def test_a_timeout_drops_the_connection_so_a_late_answer_is_never_misread():
    async def answer(n, head):
        if n == 1:
            await asyncio.sleep(1.0)
            return b"HTTP/1.1 410 Gone\r\nContent-Length: 0\r\n\r\n"
        return OK

    async with RawServer(answer) as server:
        transport = transport_for(server)
        with pytest.raises(TransportError) as caught:
            await transport.send(request(server, timeout=0.1))
        assert caught.value.kind == "timeout"
        assert (await transport.send(request(server))).status == 201
        await transport.close()
    assert server.connections == 2


def test_timeouts_still_fire_when_the_transport_outlives_its_event_loop():
    # One ticker checks deadlines. The first loop ends while the ticker is still
    # scheduled on it (its request was cancelled): the next loop must get a ticker of its own.
    async def silent(n, head):
        await asyncio.sleep(2.0)
        return OK

    async def abandoned(transport):
        async with RawServer(silent) as server:
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(transport.send(request(server, timeout=5.0)), 0.05)

    async def timed_out(transport):
        async with RawServer(silent) as server:
            with pytest.raises(TransportError) as caught:
                await asyncio.wait_for(transport.send(request(server, timeout=0.1)), 1.5)
            assert caught.value.kind == "timeout"

    transport = Http1Transport(address_guard=lambda host, port, address: True)
    asyncio.run(abandoned(transport))
    asyncio.run(timed_out(transport))


async def test_header_injection_is_refused():
    async with RawServer(lambda n, head: OK) as server:
        transport = transport_for(server)
        bad = PushRequest(server.origin + "/p", {"Topic": "t\r\nX-Evil: 1"}, b"", 5)
        with pytest.raises(TransportError, match="line break"):
            await transport.send(bad)
        with pytest.raises(TransportError, match="space or control"):
            await transport.send(PushRequest(server.origin + "/a b", {}, b"", 5))
        await transport.close()
    assert server.requests == 0


async def test_nothing_listening_is_a_connect_error():
    transport = Http1Transport(address_guard=AllowList(origins=["http://127.0.0.1:9"]).permits_address)
    with pytest.raises(TransportError) as caught:
        await transport.send(PushRequest("http://127.0.0.1:9/x", {}, b"", 5))
    await transport.close()
    assert caught.value.kind == "connect"


async def test_idle_connections_to_any_origin_are_closed_after_keep_alive():
    async with RawServer(lambda n, head: OK) as a, RawServer(lambda n, head: OK) as b:
        guard = AllowList(origins=[a.origin, b.origin]).permits_address
        transport = Http1Transport(address_guard=guard, keepalive_timeout=0.05)
        await transport.send(request(a))
        assert a.open_now == 1
        await asyncio.sleep(0.1)
        await transport.send(request(b))  # a request anywhere sweeps every pool
        await asyncio.sleep(0.05)
        assert a.open_now == 0 and b.open_now == 1
        await transport.close()
