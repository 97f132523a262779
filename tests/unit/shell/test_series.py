"""The chart's hour and day buckets (engine/shell/series.py): what a stat moves, the
windows kept, and that per-partition pruning sums to what one store answers."""

from __future__ import annotations

from engine.core.isotime import parse_iso
from engine.shell.series import DAY_MS, HOUR_MS, HOURS_KEPT, prune, series, with_series
from engine.shell.stats import add_counts, campaign_stats

T = parse_iso("2026-11-25T10:30:00Z")


def counted(*moves: tuple[str, int]) -> dict:
    stats: dict = {}
    for stat, at in moves:
        for key in with_series(stat, at):
            stats[key] = stats.get(key, 0) + 1
    return stats


def test_sends_and_clicks_move_their_hour_and_day_other_stats_only_themselves():
    assert with_series("sent", T) == ("sent", f"hour.sent.{T // HOUR_MS}", f"day.sent.{T // DAY_MS}")
    assert with_series("clicked", T)[1:] == (f"hour.clicked.{T // HOUR_MS}", f"day.clicked.{T // DAY_MS}")
    assert with_series("test.sent", T) == ("test.sent",)
    assert with_series("qualified", T) == ("qualified",)


def test_series_fills_empty_buckets_with_zeros_and_labels_them_in_utc():
    stats = counted(("sent", T), ("sent", T), ("clicked", T + 2 * HOUR_MS), ("sent", T + DAY_MS))
    out = campaign_stats("c", stats)["series"]
    assert out["hour"][0] == {"at": "2026-11-25T10:00Z", "sent": 2, "clicked": 0}
    assert out["hour"][2] == {"at": "2026-11-25T12:00Z", "sent": 0, "clicked": 1}
    assert out["hour"][-1] == {"at": "2026-11-26T10:00Z", "sent": 1, "clicked": 0}
    assert len(out["hour"]) == 25
    assert out["day"] == [{"at": "2026-11-25", "sent": 2, "clicked": 1}, {"at": "2026-11-26", "sent": 1, "clicked": 0}]
    assert campaign_stats("c", stats)["sent"] == 3


def test_no_sends_no_points():
    assert series({"qualified": 3}) == {"hour": [], "day": []}


def test_prune_keeps_the_window_before_the_newest_bucket():
    stats = counted(("sent", T), ("sent", T + HOURS_KEPT * HOUR_MS))
    prune(stats)
    assert f"hour.sent.{T // HOUR_MS}" not in stats
    assert f"hour.sent.{T // HOUR_MS + HOURS_KEPT}" in stats
    assert stats["sent"] == 2 and stats[f"day.sent.{T // DAY_MS}"] == 1  # days are kept longer


def test_partitions_pruned_apart_sum_to_what_one_store_shows():
    # Partition 0 stopped counting early; partition 1 went on: each pruned by its own newest.
    early = [("sent", T + h * HOUR_MS) for h in range(0, 60, 7)]
    late = [("clicked", T + h * HOUR_MS) for h in range(0, 200, 5)]
    one_store = counted(*early, *late)
    partitions = [counted(*early), counted(*late)]
    for stats in partitions:
        prune(stats)
    summed: dict = {}
    for n, stats in enumerate(partitions):
        add_counts(summed, {"c": stats})
    assert series(summed["c"]) == series(one_store)
    assert series(one_store)["hour"][-1]["at"] == "2026-12-03T13:00Z"
