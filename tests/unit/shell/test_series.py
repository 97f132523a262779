"""The chart's hour and day buckets (engine/shell/series.py): what a stat moves, the
points shown and the windows kept (the Kafka side: tests/unit/agents/test_agents_stats.py)."""

from __future__ import annotations

from engine.core.isotime import parse_iso
from engine.shell.series import DAY_MS, DAYS_KEPT, HOUR_MS, HOURS_KEPT, day_of, series, with_series
from engine.shell.stats import campaign_stats

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


def test_hours_and_days_are_shown_within_their_window_before_the_newest():
    stats = counted(("sent", T), ("sent", T + HOURS_KEPT * HOUR_MS), ("clicked", T - DAYS_KEPT * DAY_MS))
    shown = series(stats)
    assert [p["at"] for p in shown["hour"]] == ["2026-11-29T10:00Z"]  # T's hour is 96 hours before
    assert shown["day"][0] == {"at": "2026-11-25", "sent": 1, "clicked": 0}  # the click is 400 days before
    assert stats["sent"] == 2


def test_a_bucket_names_its_day():
    assert day_of(f"hour.sent.{T // HOUR_MS}") == day_of(f"day.clicked.{T // DAY_MS}") == T // DAY_MS
    assert day_of("sent") is None and day_of("suppressed.limit") is None and day_of("hour.sent.x") is None
