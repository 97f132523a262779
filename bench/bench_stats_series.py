"""What the chart's hour/day buckets (engine/shell/series.py) cost the Kafka workers:
each batch rewrites the running totals of every campaign it moved (engine/agents/stats.py
`StatsBook.write`), and the buckets make those totals bigger.

Same process, same batches (B batches of M moves over C campaigns, one partition):
- baseline: the totals and moves without buckets (the stats before the chart);
- series: the same moves plus their buckets, over totals that already hold a full window
  (HOURS_KEPT hours and DAYS_KEPT days of sends and clicks: the steady state of a
  campaign running for more than a year), laid out as the workers keep them (a day's
  buckets in an entry of their own).
Prints the time per batch and the bytes written per batch, and their ratios.

    .venv/bin/python bench/bench_stats_series.py [--campaigns 20] [--batches 2000] [--moves 200]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.agents.stats import StatsBook, entry_name  # noqa: E402
from engine.agents.table import TableBatch  # noqa: E402
from engine.agents.users import Move, Record  # noqa: E402
from engine.shell.series import DAY_MS, DAYS_KEPT, HOUR_MS, HOURS_KEPT, SERIES_STATS, is_series, with_series  # noqa: E402

NOW = 1_795_600_800_000  # 2026-11-25T10:00:00Z
PLAIN = ("qualified", "delivered", "shown", "suppressed.limit", "conversions.click", "revenue")


class Table:
    def __init__(self):
        self.data: dict[bytes, bytes] = {}
        self.written = 0

    def apply(self, batch: TableBatch) -> None:
        """What engine/agents/table.py `write_batch` writes; counts the bytes."""
        self.written += sum(len(v) for items in batch.partitions.values() for v in items.values() if v is not None)
        batch.apply_to(self.data)


class Ref:
    pass


def full_window() -> dict[str, float]:
    stats: dict[str, float] = {stat: 1000 for stat in ("sent", "clicked", *PLAIN)}
    for stat in SERIES_STATS:
        for h in range(HOURS_KEPT):
            stats[f"hour.{stat}.{NOW // HOUR_MS - h}"] = 10
        for d in range(DAYS_KEPT):
            stats[f"day.{stat}.{NOW // DAY_MS - d}"] = 100
    return stats


def run(args, series: bool) -> tuple[float, float]:
    table, book = Table(), StatsBook()
    campaigns = [f"campaign-{n}" for n in range(args.campaigns)]
    first = Record(None, b"", [], NOW, 0, 0, "events", Ref())
    entries = book.totals(table, 0, first)
    for name in campaigns:  # laid out as the workers keep them: a day's buckets apart
        for key, value in full_window().items():
            if series or not is_series(key):
                entries.setdefault(entry_name(name, key), [-1, {}])[1][key] = value
    offset = 0
    started = time.perf_counter()
    for batch in range(args.batches):
        moves, records = [], []
        for n in range(args.moves):
            offset += 1
            at = NOW + offset * 1000
            stat = ("sent", "clicked", *PLAIN)[n % (2 + len(PLAIN))]
            for key in (with_series(stat, at) if series else (stat,)):
                moves.append(Move(0, offset, campaigns[n % len(campaigns)], key, 1))
            records.append(Record(None, b"", [], at, 0, offset, "events", Ref()))
        written = TableBatch()
        book.write(table, written, moves, records)
        table.apply(written)
    seconds = time.perf_counter() - started
    return seconds / args.batches, table.written / args.batches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--campaigns", type=int, default=20)
    parser.add_argument("--batches", type=int, default=2000)
    parser.add_argument("--moves", type=int, default=200)
    args = parser.parse_args()
    base_s, base_b = run(args, series=False)
    series_s, series_b = run(args, series=True)
    print(f"{args.batches} batches of {args.moves} moves over {args.campaigns} campaigns (all moved per batch)")
    print(f"baseline: {base_s * 1e3:.3f} ms/batch, {base_b / 1024:.1f} KiB written/batch")
    print(f"series:   {series_s * 1e3:.3f} ms/batch, {series_b / 1024:.1f} KiB written/batch")
    print(f"ratio:    {series_s / base_s:.1f}x time, {series_b / base_b:.1f}x bytes")


if __name__ == "__main__":
    main()
