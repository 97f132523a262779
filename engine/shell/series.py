"""Per-hour and per-day counters of a campaign's sends and clicks, for its chart.

They are ordinary campaign stats, moved in the same transaction (or changelog
partition) as the stat they follow, so they are exact in both runtimes:
`hour.<stat>.<epoch hour>` and `day.<stat>.<epoch day>` (UTC), counted at the
runtime's clock when the stat is counted (a send when it is queued, a click when the
service worker's report is applied).

Readers show hours within HOURS_KEPT and days within DAYS_KEPT of the newest counted
(`series`). The Kafka workers keep each day's buckets apart from a campaign's totals
(engine/agents/stats.py: a batch rewrites only today's few buckets) and drop days older
than DAYS_KEPT before their newest (`day_of`); the newest day over all partitions is at
least each partition's own, so every bucket shown was kept by every partition, and both
runtimes answer the same.
"""

from __future__ import annotations

from datetime import datetime, timezone

SERIES_STATS = ("sent", "clicked")
HOUR_MS = 3600 * 1000
DAY_MS = 24 * HOUR_MS
HOURS_KEPT = 96  # four days of hours: the chart is drawn per hour over at most two
DAYS_KEPT = 400
_KEPT = {"hour": HOURS_KEPT, "day": DAYS_KEPT}


def with_series(stat: str, at_ms: int) -> tuple[str, ...]:
    """The stats a counted `stat` moves at `at_ms`: itself, and its hour and day buckets
    when it is charted (test sends are not)."""
    if stat not in SERIES_STATS:
        return (stat,)
    return stat, f"hour.{stat}.{at_ms // HOUR_MS}", f"day.{stat}.{at_ms // DAY_MS}"


def is_series(stat: str) -> bool:
    return stat.startswith(("hour.", "day."))


def _parse(stat: str) -> tuple[str, str, int] | None:
    """(unit, stat, bucket) of a series key; None for any other stat."""
    unit, _, rest = stat.partition(".")
    if unit not in _KEPT:
        return None
    name, _, bucket = rest.rpartition(".")
    if not name or not bucket.isdigit():
        return None
    return unit, name, int(bucket)


def _newest(stats: dict) -> dict[str, int]:
    newest: dict[str, int] = {}
    for key in stats:
        parsed = _parse(key)
        if parsed is not None:
            unit, _, bucket = parsed
            newest[unit] = max(bucket, newest.get(unit, bucket))
    return newest


def day_of(stat: str) -> int | None:
    """The UTC day (epoch days) a bucket counts in; None for any other stat."""
    parsed = _parse(stat)
    if parsed is None:
        return None
    unit, _, bucket = parsed
    return bucket if unit == "day" else bucket * HOUR_MS // DAY_MS


def _label(unit: str, bucket: int) -> str:
    at = datetime.fromtimestamp(bucket * (HOUR_MS if unit == "hour" else DAY_MS) / 1000, tz=timezone.utc)
    return at.strftime("%Y-%m-%dT%H:00Z" if unit == "hour" else "%Y-%m-%d")


def series(stats: dict) -> dict[str, list[dict]]:
    """{"hour": [...], "day": [...]}: one point per bucket from the first counted to the
    newest (empty buckets as zeros), each {"at": label, <stat>: count, ...} with every
    charted stat; within the kept windows."""
    newest = _newest(stats)
    counts: dict[str, dict[int, dict[str, int]]] = {"hour": {}, "day": {}}
    for key, amount in stats.items():
        parsed = _parse(key)
        if parsed is None:
            continue
        unit, name, bucket = parsed
        if bucket > newest[unit] - _KEPT[unit]:
            point = counts[unit].setdefault(bucket, {})
            point[name] = point.get(name, 0) + int(round(amount))
    out: dict[str, list[dict]] = {}
    for unit, points in counts.items():
        out[unit] = []
        if points:
            for bucket in range(min(points), max(points) + 1):
                point = points.get(bucket, {})
                out[unit].append({"at": _label(unit, bucket), **{s: point.get(s, 0) for s in SERIES_STATS}})
    return out
