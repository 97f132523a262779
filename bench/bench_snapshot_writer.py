"""What reach snapshots cost the embedded runtime's writer: CPU per event, in this
process, with each saved state's snapshot (as `pushcast run` saves it) against the
baseline of the same writer saving no snapshot (`users.snap` left NULL), alternated.

`--events` site events (bench_runtime.py's mix) for `--users` users through
`Runtime.submit` in batches of 500, on a SQLite store (synchronous=NORMAL), twice:
first while users are new, then again over the stored users.

    .venv/bin/python bench/bench_snapshot_writer.py [--events 100000] [--users 50000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import engine.local.runtime as runtime_module  # noqa: E402
from bench.bench_runtime import site_event  # noqa: E402
from engine.core import CampaignSet  # noqa: E402
from engine.core.events import parse_event  # noqa: E402
from engine.local.store import Store  # noqa: E402
from engine.rules.config import load_config  # noqa: E402
from engine.rules.loader import load_campaigns  # noqa: E402
from engine.shell.clock import SystemClock  # noqa: E402

WITH_SNAPSHOTS = runtime_module.stored_forms


def without_snapshots(state):
    return state.dumps(), None


async def cpu_per_event(raws: list[dict], campaigns: CampaignSet, tmp: str) -> tuple[float, float]:
    """(µs of CPU per event while users are new, the same over stored users)."""
    store = Store.open_dir(tmp, synchronous="NORMAL")
    runtime = runtime_module.Runtime(store, campaigns, secret=b"bench", clock=SystemClock())
    writer = asyncio.create_task(runtime.run_writer())
    now = int(time.time() * 1000)
    events = [parse_event({**raw, "ts": now}, now) for raw in raws]
    passes = []
    for _ in range(2):
        cpu = time.process_time()
        for start in range(0, len(events), 500):
            await runtime.submit(events[start:start + 500])
        passes.append((time.process_time() - cpu) / len(events) * 1e6)
    runtime.stop_writer()
    await writer
    store.close()
    return passes[0], passes[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    campaigns = CampaignSet(load_campaigns([ROOT / "campaigns.d"]), load_config(ROOT / "pushcast.yaml"))
    rng = random.Random(5)
    raws = [site_event(rng, args.users) for _ in range(args.events)]
    results: dict[str, list[tuple[float, float]]] = {"baseline": [], "snapshots": []}
    for _ in range(args.repeat):  # alternated: a slow moment of the shared machine hits both
        for name, forms in (("baseline", without_snapshots), ("snapshots", WITH_SNAPSHOTS)):
            runtime_module.stored_forms = forms
            with tempfile.TemporaryDirectory() as tmp:
                new, stored = asyncio.run(cpu_per_event(raws, campaigns, tmp))
            results[name].append((new, stored))
            print(f"  {name:<10} new users {new:6.1f} µs/event, stored users {stored:6.1f} µs/event", flush=True)
    runtime_module.stored_forms = WITH_SNAPSHOTS
    for column, label in ((0, "new users"), (1, "stored users")):
        base = min(r[column] for r in results["baseline"])
        snap = min(r[column] for r in results["snapshots"])
        print(f"{label}: best {snap:.1f} µs/event with snapshots, x{snap / base:.2f} of the baseline's {base:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
