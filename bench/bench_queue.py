"""Queued caps: what `on_limit: queue` costs the core, beside `drop` on the same stream.

The bench_core campaigns and stream (the example campaigns plus 50 generated ones, with
global and per-campaign caps), run twice through the core with timers firing in time
order: with pushcast.yaml as it is (`drop`), and with `on_limit: queue, max_delay: 1d`,
where every capped message becomes a wait released when its window frees. The two runs
alternate (`--rounds`, best rate of each kept: the machine is shared and noisy). Prints
both rates, their ratio, the decisions and the state size per user.

    .venv/bin/python bench/bench_queue.py [--users 20000] [--events 200000]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_core import generate_stream, load_set, run  # noqa: E402
from engine.core import CampaignSet  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    dropping = load_set()
    queueing = CampaignSet(dropping.campaigns,
                           dataclasses.replace(dropping.config, on_limit="queue", max_delay=86400))
    stream = generate_stream(args.users, args.events)
    print(f"{len(dropping.by_id)} campaigns, {args.users:,} users, {len(stream):,} events")
    rates: dict[str, float] = {}
    for _ in range(args.rounds):
        for label, campaigns in (("drop", dropping), ("queue", queueing)):
            seconds, states, counts = run(campaigns, stream)
            sizes = sorted(len(s.dumps()) for s in states.values())
            queued = sum(1 for s in states.values() for w in s.waits if w.kind == "queued")
            rates[label] = max(rates.get(label, 0.0), len(stream) / seconds)
            print(f"{label:6} {len(stream) / seconds:10,.0f} events/s  decisions {counts}  pending queued "
                  f"{queued:,}  state mean {statistics.mean(sizes):.0f} B, p99 {sizes[len(sizes) * 99 // 100]} B")
    print(f"best: drop {rates['drop']:,.0f}, queue {rates['queue']:,.0f} events/s; "
          f"queue / drop: {rates['queue'] / rates['drop']:.2f}x")


if __name__ == "__main__":
    main()
