"""Web push delivery throughput: pushcast's Sender against the floor, a minimal client.

    .venv/bin/python bench/bench_push.py [--messages 10000] [--rounds 6] [--gc both|run|python]
    .venv/bin/pip install -e '.[bench]'; .venv/bin/python bench/bench_push.py --pywebpush

Every message is encrypted (RFC 8291, a fresh ECDH key each), VAPID-signed and POSTed over
HTTPS to a local sink that answers 201, to 10,000 distinct subscriptions (distinct
endpoints and real P-256 keys). The sink (asyncio, TLS, a fixed 201 answer) runs in another process,
pinned to the other core, so the sender has one core to itself (it is pinned too).
Each variant starts from the subscriptions as stored (toJSON dicts): parsing them is
part of a send.

Measured in one run, against the same sink:
  (e) encryption alone: RFC 8291 for each message, nothing else (no network),
  (m) the minimal asyncio client (bench/push_floor.py): what any sender must do per
      push and nothing more; the floor,
  (c) pushcast's Sender (default transport, Http1Transport).
(m) and (c) run `--rounds` times, interleaved, to expose noise from other work on the
machine; the ratio (c)/(m) (median over the rounds) is how close the Sender is to the
floor. The rounds run with the cycle collector's thresholds as deployed: the runtimes'
(engine/shell/collector.py; `pushcast run` and `pushcast worker` set them) and Python's
default (a program that embeds the Sender); `--gc` picks one. Each run also prints the collector's CPU per message and full passes (gc.callbacks)
and the process's context switches: involuntary (other work took its core) and voluntary
(its event loop waited with nothing to do). With --pywebpush also (a) a loop of pywebpush.webpush() (on a sample),
(b) pywebpush.webpush_async with one shared aiohttp session, and (c') the Sender on
AiohttpTransport.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import gc
import ipaddress
import multiprocessing
import os
import resource
import statistics
import ssl
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PAYLOAD = {
    "title": "Still thinking about Trail shoes?",
    "body": "Hi Asha, your cart is waiting. Free shipping ends tonight.",
    "url": "https://shop.example/cart/c-9?utm_source=push&utm_campaign=abandoned-cart",
    "icon": "https://shop.example/icon.png",
    "image": "https://shop.example/img/trail-shoes-800.jpg",
    "badge": "https://shop.example/badge.png",
    "tag": "abandoned-cart",
    "require_interaction": True,
    "actions": [{"action": "checkout", "title": "Checkout", "url": "https://shop.example/checkout/c-9"}],
}
CONCURRENCY = 128
PYTHON_THRESHOLDS = gc.get_threshold()  # before anything changes them: (700, 10, 10)


def pin(cpu: int) -> None:
    if hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) > 1:
        os.sched_setaffinity(0, {cpu})


# --- the sink ---------------------------------------------------------------------------


def make_cert(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return cert_path, key_path


# What push services answer (FCM-like headers); the sink sends it without parsing more
# than the framing, so that it is never the bottleneck: each client must be CPU-bound.
SINK_ANSWER = (b"HTTP/1.1 201 Created\r\nLocation: https://push.example/m/0\r\n"
               b"Date: Tue, 01 Dec 2026 12:00:00 GMT\r\nContent-Length: 0\r\n\r\n")


class _Sink(asyncio.Protocol):
    """Answers each request (framed by Content-Length) with SINK_ANSWER."""

    def __init__(self, counts: list) -> None:
        self.counts, self.buffer, self.transport = counts, b"", None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data
        while (end := buffer.find(b"\r\n\r\n")) >= 0:
            head = buffer[:end].lower()
            at = head.find(b"\r\ncontent-length:")
            line_end = head.find(b"\r\n", at + 2)
            length = int(head[at + 17:line_end if line_end > 0 else None]) if at >= 0 else 0
            if len(buffer) < end + 4 + length:
                break
            buffer = buffer[end + 4 + length:]
            self.counts[0] += 1
            self.transport.write(SINK_ANSWER)
        self.buffer = buffer


def run_sink(port: int, cert: str, key: str, ready, counter) -> None:
    pin(1)
    counts = [0]

    async def publish() -> None:
        while True:
            await asyncio.sleep(0.2)
            counter.value = counts[0]

    async def main():
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        loop = asyncio.get_running_loop()
        await loop.create_server(lambda: _Sink(counts), "127.0.0.1", port, ssl=context, backlog=1024)
        ready.set()
        await publish()

    asyncio.run(main())


# --- workload ---------------------------------------------------------------------------


def make_subscriptions(count: int, origin: str) -> list[dict]:
    import base64

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    subs = []
    for i in range(count):
        public = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        subs.append({
            "endpoint": f"{origin}/wp/{i:06d}-{b64(os.urandom(12))}",
            "keys": {"p256dh": b64(public), "auth": b64(os.urandom(16))},
        })
    return subs


def percentiles(latencies: list[float]) -> tuple[float, float]:
    ordered = sorted(latencies)
    return ordered[len(ordered) // 2], ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


async def run_sender(subs, signer, origin: str, client_ssl, transport_name: str, profile=False) -> dict:
    """(c) pushcast: Sender with rate limiting on (a rate the sink cannot reach). The
    messages are built in the timed part: a runtime builds a `Subscription` per send."""
    from connectors.push import AllowList, MemoryRateLimiter, PushMessage, Rate, Sender, Subscription
    from connectors.push.http1 import Http1Transport
    from connectors.push.transport import AiohttpTransport

    allowlist = AllowList(origins=[origin])
    transport_class = Http1Transport if transport_name == "http1" else AiohttpTransport
    transport = transport_class(ssl_context=client_ssl, address_guard=allowlist.permits_address,
                                max_connections_per_origin=CONCURRENCY)
    limiter = MemoryRateLimiter({origin: Rate(1_000_000, 1_000_000)})
    sender = Sender(signer, transport, allowlist, limiter, concurrency=CONCURRENCY)

    def messages(batch):
        return [PushMessage(f"m{i:021d}", "abandoned-cart", f"u{i}", Subscription.from_json(sub),
                            PAYLOAD, ttl=3600) for i, sub in enumerate(batch)]

    await sender.send_many(messages(subs[:200]))  # warm up: connections, VAPID token
    start, cpu = time.perf_counter(), time.process_time()
    if profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile(time.process_time)  # CPU time: other jobs do not count
        profiler.enable()
    results = await sender.send_many(messages(subs))
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    if profile:
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(40)
    await sender.close()
    failed = [r for r in results if r.outcome != "sent"]
    if failed:
        raise SystemExit(f"{len(failed)} sends failed, e.g. {failed[0].reason}")
    return {"n": len(subs), "rate": len(subs) / elapsed, "cpu": cpu / len(subs),
            "lat": percentiles([r.latency for r in results])}


def vapid_cost(signer, messages: int) -> tuple[float, float, int]:
    """(µs per signature, µs per message amortised, signatures made for the messages)."""
    origins = [f"https://push{i}.example.com" for i in range(300)]
    start = time.perf_counter()
    for origin in origins:
        signer.authorization(origin, time.time())
    per_signature = (time.perf_counter() - start) / len(origins) * 1e6
    start = time.perf_counter()
    for _ in range(messages):
        signer.authorization(origins[0], time.time())
    per_message = (time.perf_counter() - start) / messages * 1e6
    return per_signature, per_message, signer.signatures - len(origins)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=6, help="rounds of one (m) and one (c) run")
    parser.add_argument("--pywebpush", action="store_true",
                        help="also run (a), (b) (needs the bench extra) and (c')")
    parser.add_argument("--loop-sample", type=int, default=300, help="messages for (a)")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--profile", action="store_true", help="cProfile one run of (c)")
    parser.add_argument("--only", choices=("m", "c"),
                        help="run (m) or (c) once, on the first --only-messages subscriptions of "
                             "--messages, at concurrency 8: for counting instructions (RESULTS.md)")
    parser.add_argument("--only-messages", type=int, default=200)
    parser.add_argument("--gc", choices=("both", "run", "python"), default="both",
                        help="collector thresholds: pushcast run's, Python's default, or both")

    args = parser.parse_args()

    from connectors.push.vapid import generate_keys, load_signer
    from push_floor import encryption_alone, run_minimal

    workdir = Path(tempfile.mkdtemp(prefix="bench-push-"))
    cert, key = make_cert(workdir)
    port = args.port or _free_port()
    origin = f"https://localhost:{port}"
    ctx = multiprocessing.get_context("spawn")
    ready, counter = ctx.Event(), ctx.Value("q", 0)
    sink = ctx.Process(target=run_sink, args=(port, str(cert), str(key), ready, counter), daemon=True)
    sink.start()
    try:
        if not ready.wait(30):
            raise SystemExit("the sink did not start")
        pin(0)
        client_ssl = ssl.create_default_context(cafile=str(cert))
        key_path = workdir / "vapid.pem"
        generate_keys(key_path)
        t0 = time.perf_counter()
        subs = make_subscriptions(args.messages, origin)
        print(f"{args.messages} subscriptions (distinct endpoints, real P-256 keys) in "
              f"{time.perf_counter() - t0:.1f}s; sink {origin} (pid {sink.pid}); "
              f"python {sys.version.split()[0]}", flush=True)

        if args.only:
            run_once(args.only, subs[:args.only_messages], key_path, origin, port, client_ssl)
            return
        if args.pywebpush:
            from push_pywebpush import run_pywebpush_baselines

            run_pywebpush_baselines(subs, key_path, origin, cert, client_ssl, args.loop_sample)
        enc = encryption_alone(subs, PAYLOAD)
        print(f"{'(e) encryption alone (RFC 8291, no network)':<46} {enc['n']:>6} msgs "
              f"{enc['rate']:>7.0f}/s  {enc['cpu'] * 1e6:5.0f} µs CPU/msg", flush=True)
        authorization = load_signer(key_path, "mailto:ops@example.com").authorization(origin, time.time())
        from engine.shell.collector import GC_THRESHOLDS

        settings = {"run": ("as `pushcast run` and `pushcast worker` set them", GC_THRESHOLDS),
                    "python": ("Python's default, as a program embedding the Sender has them", PYTHON_THRESHOLDS)}
        signers = []
        for name in (("run", "python") if args.gc == "both" else (args.gc,)):
            label, thresholds = settings[name]
            gc.set_threshold(*thresholds)
            print(f"collector thresholds {thresholds}: {label}", flush=True)
            minimal, senders = [], []
            for round_ in range(1, args.rounds + 1):
                # alternate which goes first, so a drift in the machine's load favours neither
                for variant in ("mc" if round_ % 2 else "cm"):
                    if variant == "m":
                        m = observed(lambda: asyncio.run(run_minimal(
                            subs, PAYLOAD, authorization, "localhost", port, client_ssl, CONCURRENCY)))
                        m["lat"] = percentiles(m["lat"])
                        minimal.append(m)
                        print_row(f"(m) minimal asyncio client [run {round_}]", m)
                    else:
                        signers.append(load_signer(key_path, "mailto:ops@example.com"))
                        c = observed(lambda: asyncio.run(
                            run_sender(subs, signers[-1], origin, client_ssl, "http1")))
                        senders.append(c)
                        print_row(f"(c) pushcast Sender, Http1Transport [run {round_}]", c)
            # Each round's two runs are close in time, so their ratio cancels most of the
            # machine's load; the median over rounds discards the rounds a burst hit one run of.
            rate_ratio = statistics.median(c["rate"] / m["rate"] for m, c in zip(minimal, senders))
            cpu_ratio = statistics.median(m["cpu"] / c["cpu"] for m, c in zip(minimal, senders))
            print(f"ratio (c)/(m) at thresholds {thresholds}, median of the rounds: {rate_ratio:.2f} "
                  f"pushes/s, {cpu_ratio:.2f} per CPU-second (goal >= 0.9)")
            cpu_m = statistics.median(r["cpu"] for r in minimal)
            cpu_c = statistics.median(r["cpu"] for r in senders)
            print(f"encryption's share of a push (medians): {enc['cpu'] / cpu_c:.0%} of (c)'s CPU, "
                  f"{enc['cpu'] / cpu_m:.0%} of (m)'s", flush=True)
        if args.profile:
            asyncio.run(run_sender(subs, load_signer(key_path, "mailto:ops@example.com"),
                                   origin, client_ssl, "http1", profile=True))
        signed = signers[0].signatures  # before vapid_cost signs for 300 more origins
        per_sig, per_msg, _ = vapid_cost(signers[-1], 100_000)
        print(f"VAPID: {per_sig:.1f} µs per signature; the Sender signed {signed} "
              f"token(s) for {args.messages + 200} messages; a cached header costs "
              f"{per_msg:.2f} µs per message")
        time.sleep(0.3)
        print(f"sink answered {counter.value} requests")
    finally:
        sink.terminate()
        sink.join(10)


def run_once(variant: str, subs, key_path, origin: str, port: int, client_ssl) -> None:
    """One run of (m) or (c) (after its 200-message warm-up), at pushcast run's collector
    thresholds. Run under callgrind at two message counts with the same --messages (the
    subscriptions made), the difference of the totals is the instructions of the pushes."""
    global CONCURRENCY
    from engine.shell.collector import GC_THRESHOLDS

    from connectors.push.vapid import load_signer
    from push_floor import run_minimal

    CONCURRENCY = 8  # fewer TLS handshakes to count; the same for both
    gc.set_threshold(*GC_THRESHOLDS)
    signer = load_signer(key_path, "mailto:ops@example.com")
    if variant == "m":
        row = asyncio.run(run_minimal(subs, PAYLOAD, signer.authorization(origin, time.time()),
                                      "localhost", port, client_ssl, CONCURRENCY))
        row["lat"] = percentiles(row["lat"])
    else:
        row = asyncio.run(run_sender(subs, signer, origin, client_ssl, "http1"))
    print_row(f"({variant}) once, concurrency {CONCURRENCY}", row)


def observed(run) -> dict:
    """`run()`'s result plus what the collector cost it (CPU per message, full passes) and
    the involuntary context switches it had: the suspects when a run's CPU per message is
    off the others'."""
    spent, passes, started = [0.0], [0, 0, 0], [0.0]

    def on_collect(phase: str, info: dict) -> None:
        if phase == "start":
            started[0] = time.process_time()
        else:
            spent[0] += time.process_time() - started[0]
            passes[info["generation"]] += 1

    before = resource.getrusage(resource.RUSAGE_SELF)
    gc.collect()  # what the previous run left starts no pass in this one
    gc.callbacks.append(on_collect)
    try:
        row = run()
    finally:
        gc.callbacks.remove(on_collect)
    row["gc"] = spent[0] / (row["n"] + 200)  # the warm-up's 200 messages ran too
    row["full"] = passes[2]
    after = resource.getrusage(resource.RUSAGE_SELF)
    row["switches"] = after.ru_nivcsw - before.ru_nivcsw  # preempted by other work
    row["waits"] = after.ru_nvcsw - before.ru_nvcsw  # idle: the event loop had nothing to do
    return row


def print_row(label: str, row: dict) -> None:
    p50, p99 = row["lat"]
    extra = (f"  gc {row['gc'] * 1e6:4.1f} µs/msg ({row['full']} full)  switches: "
             f"{row['switches']} preempted, {row['waits']} idle" if "gc" in row else "")
    print(f"{label:<46} {row['n']:>6} msgs {row['rate']:>7.0f}/s  {row['cpu'] * 1e6:5.0f} µs CPU/msg"
          f" ({1 / row['cpu']:>5.0f}/CPU-s)  p50 {p50 * 1000:6.1f} ms  p99 {p99 * 1000:6.1f} ms"
          f"{extra}  load {os.getloadavg()[0]:.1f}", flush=True)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


if __name__ == "__main__":
    main()
