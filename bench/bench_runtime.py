"""Embedded runtime: events/s over HTTP (batches of 500, fully processed and committed)
and the time from an event's arrival to its notification's request at a push sink.

Starts `pushcast run` as a subprocess on the real clock with the example campaigns plus
a live no-delay campaign, a local push sink (aiohttp, this process) allowed as a push
service, and measures:

1. throughput: `--events` events for `--users` users (a site's mix: views, carts,
   searches, purchases) posted in batches of 500 by `--concurrency` clients; then the
   floor: the same events through the core alone in this process (`parse_event` and the
   shell's `apply` on in-memory `UserState`s: no HTTP, no encoding, no disk), and the
   ratio runtime / floor (the figure to compare across runs on a shared machine);
2. latency: `--pings` single events, one every 10 ms, each triggering a notification for
   its own subscribed user; from the POST leaving the client to the push request
   arriving at the sink (both clocks are this process's).

    .venv/bin/python bench/bench_runtime.py [--users 100000] [--events 200000]
        [--baseline GIT_REF --rounds 3]   # alternated with the runtime as it was at GIT_REF
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import orjson
from aiohttp import web

from engine.core import CampaignSet, UserState  # noqa: E402
from engine.core.events import parse_event  # noqa: E402
from engine.rules.config import load_config  # noqa: E402
from engine.rules.loader import load_campaigns  # noqa: E402
from engine.shell.step import apply  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.worker_process import cpu_seconds  # noqa: E402

TOKEN = "bench-admin-token-0123456789abcdef"
P256DH = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
AUTH = "BTBZMqHH6r4Tts7J_aSIgg"
LIVE = """
campaign: bench-live
who: {on: {event: Bench Ping}}
when: {limits: {ignore_global: true}}
what: {title: "Ping {{ event.n }}", ttl: 1h}
"""
EVENTS = ["Product Viewed", "Added To Cart", "Charged", "Session Started", "Searched"]
WEIGHTS = [40, 10, 3, 22, 25]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


class Sink:
    def __init__(self):
        self.port = free_port()
        self.arrivals: dict[str, float] = {}

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        self.arrivals.setdefault(request.path.rsplit("/", 1)[1], time.perf_counter())
        return web.Response(status=201)

    async def start(self):
        server = web.Server(self.handle, access_log=None)
        self.runner = web.ServerRunner(server, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()


def site_event(rng: random.Random, users: int) -> dict:
    name = rng.choices(EVENTS, WEIGHTS)[0]
    props = {"product": f"p{rng.randrange(500)}", "price": rng.randrange(5, 300)}
    if name in ("Added To Cart", "Charged"):
        props["cart_id"] = f"c{rng.randrange(10_000)}"
        props["amount"] = props["price"]
    return {"user": f"u{rng.randrange(users)}", "event": name, "props": props}


def core_floor(bodies: list[bytes], campaigns_dir: Path, config: Path) -> tuple[float, float]:
    """The core alone on the same events: (events/s, CPU µs per event). What the runtime
    adds is the rest."""
    campaigns = CampaignSet(load_campaigns([campaigns_dir]), load_config(config))
    events = [raw for body in bodies for raw in orjson.loads(body)]
    states: dict[str, UserState] = {}
    started, cpu = time.perf_counter(), time.process_time()
    now = int(time.time() * 1000)
    for raw in events:
        event = parse_event(raw, now)
        state = states.get(event.user)
        if state is None:
            state = states[event.user] = UserState(event.user)
        apply(state, event, now, campaigns)
    return len(events) / (time.perf_counter() - started), (time.process_time() - cpu) * 1e6 / len(events)


def export_tree(ref: str, into: Path) -> Path:
    """The repository's code at `ref`, to run the runtime as it was (`--baseline`)."""
    into.mkdir()
    archive = subprocess.run(["git", "archive", ref], cwd=ROOT, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


class Server:
    """`pushcast run` from the code in `code` (this tree, or a `--baseline` export)."""

    def __init__(self, code: Path, work: Path, name: str, config: Path, campaigns: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.state = work / f"state-{name}"
        self.process = subprocess.Popen(
            [sys.executable, *os.environ.get("PYPROFILE", "").split(), "-m", "engine.cli", "run", "--config",
             str(config), "--campaigns", str(campaigns), "--state-dir", str(self.state), "--port", str(self.port)],
            cwd=code, stdout=open(work / f"run-{name}.log", "wb"), stderr=subprocess.STDOUT)

    async def ready(self, session: aiohttp.ClientSession) -> None:
        for _ in range(200):
            try:
                async with session.get(self.url + "/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
        raise RuntimeError(f"{self.url} did not start")

    def stop(self) -> float:
        """Stops it; returns the size of its state on disk, in MB."""
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(30)
        return sum(f.stat().st_size for f in self.state.glob("pushcast.db*")) / 1e6


async def throughput(server: Server, session, bodies: list[bytes], args, headers) -> tuple[float, float]:
    """Posts every body (`--concurrency` clients); (events/s, the runtime's CPU µs per event)."""
    queue = list(reversed(bodies))

    async def client():
        while queue:
            body = queue.pop()
            async with session.post(server.url + "/v1/events", data=body, headers=headers) as response:
                assert response.status == 200, await response.text()

    started, cpu = time.perf_counter(), cpu_seconds(server.process.pid)
    await asyncio.gather(*[client() for _ in range(args.concurrency)])
    elapsed = time.perf_counter() - started
    total = len(bodies) * args.batch
    return total / elapsed, (cpu_seconds(server.process.pid) - cpu) * 1e6 / total


async def latency(server: Server, session, sink: Sink, args, headers) -> None:
    subs = [{"user": f"ping{n}", "event": "$push_subscribe",
             "props": {"endpoint": f"http://127.0.0.1:{sink.port}/push/{n}",
                       "keys": {"p256dh": P256DH, "auth": AUTH}}} for n in range(args.pings)]
    for start in range(0, len(subs), 500):
        async with session.post(server.url + "/v1/events", data=orjson.dumps(subs[start:start + 500]),
                                headers=headers) as response:
            assert response.status == 200, await response.text()
    posted: dict[str, float] = {}
    for n in range(args.pings):
        body = orjson.dumps({"user": f"ping{n}", "event": "Bench Ping", "props": {"n": n}})
        posted[str(n)] = time.perf_counter()
        async with session.post(server.url + "/v1/events", data=body, headers=headers) as response:
            assert response.status == 200
        await asyncio.sleep(0.01)
    deadline = time.perf_counter() + 10
    while len(sink.arrivals) < args.pings and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    latencies = [(sink.arrivals[k] - posted[k]) * 1000 for k in posted if k in sink.arrivals]
    print(f"latency event -> push request: n={len(latencies)}/{args.pings} "
          f"p50 {statistics.median(latencies):.1f} ms, p99 {pct(latencies, 0.99):.1f} ms, "
          f"max {max(latencies):.1f} ms")
    async with session.get(server.url + "/metrics") as response:
        text = await response.text()
    for line in text.splitlines():
        if line.startswith("pushcast_batch_duration_seconds_count") or line.startswith("pushcast_batch_items_total"):
            print("  " + line)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--pings", type=int, default=500)
    parser.add_argument("--baseline", metavar="GIT_REF",
                        help="also run the runtime as it was at this commit, alternated with this tree's")
    parser.add_argument("--rounds", type=int, default=1, help="runs of each variant (alternated)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="pushcast-bench-"))
    sink = Sink()
    await sink.start()
    campaigns = work / "campaigns.d"
    campaigns.mkdir()
    for file in (ROOT / "campaigns.d").glob("*.yaml"):
        shutil.copy(file, campaigns)
    (campaigns / "bench-live.yaml").write_text(LIVE)
    config = work / "pushcast.yaml"
    config.write_text(f"push_services:\n  - {{host: 'http://127.0.0.1:{sink.port}'}}\n"
                      f"vapid: {{subject: 'mailto:bench@shop.example'}}\nadmin_token: {TOKEN}\n")
    variants = [("this tree", ROOT)]
    if args.baseline:
        variants.insert(0, (f"baseline {args.baseline}", export_tree(args.baseline, work / "baseline")))
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    rng = random.Random(7)
    bodies = [orjson.dumps([site_event(rng, args.users) for _ in range(args.batch)])
              for _ in range(args.events // args.batch)]
    total = len(bodies) * args.batch
    results: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in variants}
    server = None
    try:
        async with aiohttp.ClientSession() as session:
            for round_ in range(args.rounds):
                for name, code in variants:
                    server = Server(code, work, f"{len(results[name])}-{name.split()[0]}", config, campaigns)
                    await server.ready(session)
                    # The floor before and after the runtime's run (the machine's load drifts).
                    floor_before, floor_cpu_before = core_floor(bodies, campaigns, config)
                    rate, runtime_cpu = await throughput(server, session, bodies, args, headers)
                    floor_after, floor_cpu_after = core_floor(bodies, campaigns, config)
                    floor = (floor_before + floor_after) / 2
                    floor_cpu = (floor_cpu_before + floor_cpu_after) / 2
                    results[name].append((rate / floor, floor_cpu / runtime_cpu))
                    print(f"[{name}] throughput: {total} events = {rate:,.0f} events/s (batches of {args.batch}, "
                          f"{args.concurrency} concurrent clients, {args.users} users); runtime CPU "
                          f"{runtime_cpu:.1f} µs/event; floor (the core alone on the same events in this "
                          f"process) {floor_before:,.0f} before, {floor_after:,.0f} after, CPU {floor_cpu:.1f} "
                          f"µs/event; runtime / floor {rate / floor:.2f} in events/s, {floor_cpu / runtime_cpu:.2f} "
                          f"in CPU per event")
                    last = round_ == args.rounds - 1 and code is ROOT
                    if last and args.pings:
                        await latency(server, session, sink, args, headers)
                    size = server.stop()
                    server = None
                    if last:
                        print(f"state on disk: {size:.1f} MB")
            for name, ratios in results.items():
                print(f"{name}: runtime / floor in events/s " + " · ".join(f"{r:.2f}" for r, _ in ratios)
                      + "; in CPU per event " + " · ".join(f"{c:.2f}" for _, c in ratios))
    finally:
        if server is not None:
            server.stop()
        await sink.runner.cleanup()
        if not os.environ.get("KEEP"):
            shutil.rmtree(work)


if __name__ == "__main__":
    asyncio.run(main())
