"""The floor bench/bench_push.py measures the Sender against: a minimal asyncio client.

Per push it does only what any sender must: decode the subscription's keys, build the
JSON, encrypt it (RFC 8291 through `connectors.push.ece`, a fresh ECDH key each), and
POST it with a VAPID header on a keep-alive TLS connection, then read the status line and
headers. No allow-list, rate limit, retries, timeouts, pooling logic or result objects:
one connection per worker, each worker taking the next push when it is done with one. A Sender at this rate
would be at the floor of Python + OpenSSL on this machine.
"""

from __future__ import annotations

import asyncio
import base64
import time

import orjson
from cryptography.hazmat.primitives.asymmetric import ec

from connectors.push import ece

P256 = ec.SECP256R1()


def decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class _Client(asyncio.Protocol):
    """One connection; `request` writes a request and resolves to the status code."""

    def __init__(self) -> None:
        self.transport = None
        self.buffer = b""
        self.waiter: asyncio.Future | None = None
        self.remaining = -1  # body bytes still to skip (-1: reading the head)
        self.status = 0

    def connection_made(self, transport) -> None:
        self.transport = transport

    def request(self, data: bytes) -> asyncio.Future:
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return self.waiter

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.remaining < 0:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head, self.buffer = self.buffer[:end].lower(), self.buffer[end + 4:]
            self.status = int(head[9:12])
            at = head.find(b"\r\ncontent-length:")
            line_end = head.find(b"\r\n", at + 2)
            self.remaining = 0 if at < 0 else int(head[at + 17:line_end if line_end > 0 else None])
        if len(self.buffer) >= self.remaining:
            self.buffer, self.remaining = self.buffer[self.remaining:], -1
            self.waiter.set_result(self.status)

    def connection_lost(self, exc) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError(f"closed: {exc}"))


async def run_minimal(subs: list[dict], payload: dict, authorization: str, host: str, port: int,
                      client_ssl, concurrency: int, warmup: int = 200) -> dict:
    """Send one push to each subscription in `subs` (toJSON dicts); rate, CPU, latencies."""
    loop = asyncio.get_running_loop()
    latencies: list[float] = []

    async def push(conn: _Client, index: int, sub: dict) -> None:
        t0 = time.perf_counter()
        keys = sub["keys"]
        raw_key = decode(keys["p256dh"])
        public_key = ec.EllipticCurvePublicKey.from_encoded_point(P256, raw_key)
        plaintext = orjson.dumps({**payload, "message": f"m{index:021d}", "campaign": "abandoned-cart"})
        body = ece.encrypt(plaintext, public_key, raw_key, decode(keys["auth"]), 4096)
        target = sub["endpoint"].split("/", 3)[3]
        head = (f"POST /{target} HTTP/1.1\r\nHost: {host}:{port}\r\nTTL: 3600\r\nUrgency: normal\r\n"
                f"Topic: m{index:021d}\r\nContent-Type: application/octet-stream\r\n"
                f"Content-Encoding: aes128gcm\r\nAuthorization: {authorization}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n")
        status = await conn.request(head.encode() + body)
        if status != 201:
            raise SystemExit(f"the sink answered {status}")
        latencies.append(time.perf_counter() - t0)

    async def worker(conn: _Client, queue) -> None:
        for index, sub in queue:  # shared, as in Sender.send_many: no connection straggles
            await push(conn, index, sub)

    connections = [
        (await loop.create_connection(_Client, "127.0.0.1", port, ssl=client_ssl, server_hostname=host))[1]
        for _ in range(concurrency)
    ]

    async def run(items) -> None:
        queue = iter(items)
        await asyncio.gather(*(worker(conn, queue) for conn in connections))

    await run(list(enumerate(subs[:warmup])))
    latencies.clear()
    start, cpu = time.perf_counter(), time.process_time()
    await run(list(enumerate(subs)))
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    for conn in connections:
        conn.transport.close()
    return {"n": len(subs), "rate": len(subs) / elapsed, "cpu": cpu / len(subs), "lat": latencies}


def encryption_alone(subs: list[dict], payload: dict) -> dict:
    """RFC 8291 encryption of the same JSON for each subscription (keys decoded beforehand):
    the part of a push no sender can skip."""
    parsed = []
    for sub in subs:
        raw_key = decode(sub["keys"]["p256dh"])
        parsed.append((ec.EllipticCurvePublicKey.from_encoded_point(P256, raw_key), raw_key,
                       decode(sub["keys"]["auth"])))
    plaintext = orjson.dumps({**payload, "message": "m" * 22, "campaign": "abandoned-cart"})
    start, cpu = time.perf_counter(), time.process_time()
    for public_key, raw_key, auth in parsed:
        ece.encrypt(plaintext, public_key, raw_key, auth, 4096)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"n": len(subs), "rate": len(subs) / elapsed, "cpu": cpu / len(subs)}
