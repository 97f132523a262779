"""The earlier comparisons bench/bench_push.py runs with `--pywebpush` (the bench extra):
(a) a loop of pywebpush.webpush(), (b) pywebpush.webpush_async with one shared aiohttp
session, (c') pushcast's Sender on AiohttpTransport. Same subscriptions, same sink."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import bench_push


def run_pywebpush_baselines(subs, key_path, origin, cert, client_ssl, loop_sample: int) -> None:
    """(a), (b) and (c'): the earlier comparisons, kept for reference."""
    from connectors.push.vapid import load_signer
    from py_vapid import Vapid02

    vapid_key = Vapid02.from_file(str(key_path))
    bench_push.print_row("(a) pywebpush.webpush() loop", run_loop(subs[:loop_sample], vapid_key, cert))
    bench_push.print_row("(b) webpush_async, shared session", asyncio.run(run_async_baseline(subs, vapid_key, client_ssl)))
    c2 = asyncio.run(bench_push.run_sender(subs, load_signer(key_path, "mailto:ops@example.com"),
                                origin, client_ssl, "aiohttp"))
    bench_push.print_row("(c') pushcast Sender, AiohttpTransport", c2)


def run_loop(subs, vapid_key, cert: Path) -> dict:
    """(a) what a first version looks like: pywebpush.webpush() in a loop, no session."""
    import json

    from pywebpush import webpush

    os.environ["REQUESTS_CA_BUNDLE"] = str(cert)  # how requests is told to trust the sink
    data = json.dumps(bench_push.PAYLOAD)
    latencies = []
    start, cpu = time.perf_counter(), time.process_time()
    for i, sub in enumerate(subs):
        t0 = time.perf_counter()
        webpush(sub, data, vapid_private_key=vapid_key, vapid_claims={"sub": "mailto:ops@example.com"},
                ttl=3600, timeout=10, headers={"Urgency": "normal", "Topic": f"m{i}",
                                              "Content-Type": "application/octet-stream"})
        latencies.append(time.perf_counter() - t0)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"n": len(subs), "rate": len(subs) / elapsed, "cpu": cpu / len(subs), "lat": bench_push.percentiles(latencies)}


async def run_async_baseline(subs, vapid_key, client_ssl) -> dict:
    """(b) pywebpush.webpush_async, one shared aiohttp session, a semaphore."""
    import json

    import aiohttp
    from pywebpush import webpush_async

    data = json.dumps(bench_push.PAYLOAD)
    latencies = []
    sem = asyncio.Semaphore(bench_push.CONCURRENCY)
    connector = aiohttp.TCPConnector(limit=bench_push.CONCURRENCY, ssl=client_ssl)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def one(i, sub):
            async with sem:
                t0 = time.perf_counter()
                await webpush_async(
                    sub, data, vapid_private_key=vapid_key,
                    vapid_claims={"sub": "mailto:ops@example.com"}, ttl=3600, timeout=10,
                    headers={"Urgency": "normal", "Topic": f"m{i}",
                             "Content-Type": "application/octet-stream"},
                    aiohttp_session=session)
                latencies.append(time.perf_counter() - t0)

        await asyncio.gather(*(one(i, s) for i, s in enumerate(subs[:200])))  # warm up
        latencies.clear()
        start, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(one(i, s) for i, s in enumerate(subs)))
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"n": len(subs), "rate": len(subs) / elapsed, "cpu": cpu / len(subs), "lat": bench_push.percentiles(latencies)}
