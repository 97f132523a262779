"""Per-campaign stats as the API returns them and `pushcast stats` prints them, from
either runtime's stored counters ({stat: amount}, the keys of `step.counts`).

Definitions (all exact: each runtime counts in the same transaction, or the same
changelog partition, as the states it counts):
- qualified: users who entered the campaign's audience (once per message id);
- suppressed.<reason>: qualified messages not sent (limit, dnd, cutoff, no_subscription,
  render_error, ended, paused, ...);
- queued: messages a frequency limit held and kept (`on_limit: queue`), once per
  message; released: those of them sent when the limits freed (the others end
  suppressed, `limit` when still held at their max_delay);
- sent: messages queued for sending (one per message, whatever the number of devices);
- delivered / failed: per subscription, the push service's final answer (accepted, or
  refused / given up); unsubscribed: failures that removed the subscription (404/410);
- shown / clicked: messages the service worker reported (signed), once per message;
- conversions.click / conversions.view: click-through and view-through conversions;
  revenue: their summed revenue property.
Test sends (test profiles) are counted apart under `test`.
- series.hour / series.day: sends and clicks per hour and per day (engine/shell/series.py).
"""

from __future__ import annotations

from engine.shell.series import series

COUNTS = ("qualified", "queued", "released", "sent", "delivered", "failed", "unsubscribed", "shown",
          "clicked")
TEST_COUNTS = ("sent", "delivered", "failed", "unsubscribed", "shown", "clicked")


def add_counts(into: dict[str, dict[str, float]], more: dict[str, dict[str, float]]) -> None:
    """Sum `more` ({campaign: {stat: amount}}) into `into` (the Kafka workers' partitions)."""
    for campaign, stats in more.items():
        mine = into.setdefault(campaign, {})
        for stat, amount in stats.items():
            mine[stat] = mine.get(stat, 0) + amount


def _int(value: float) -> int:
    return int(round(value))


def campaign_stats(campaign: str, metrics: dict[str, float]) -> dict:
    out: dict = {"campaign": campaign}
    for name in COUNTS:
        out[name] = _int(metrics.get(name, 0))
    suppressed = {m.split(".", 1)[1]: _int(v) for m, v in sorted(metrics.items()) if m.startswith("suppressed.")}
    out["suppressed"] = suppressed
    out["suppressed_total"] = sum(suppressed.values())
    out["conversions"] = {"click": _int(metrics.get("conversions.click", 0)),
                          "view": _int(metrics.get("conversions.view", 0))}
    out["revenue"] = round(metrics.get("revenue", 0.0), 2)
    out["test"] = {name: _int(metrics.get(f"test.{name}", 0)) for name in TEST_COUNTS}
    out["series"] = series(metrics)
    return out


# queued/released after the message's life: scripts read the first columns by position.
COLUMNS = (("campaign", "campaign"), ("qualified", "qualified"), ("suppressed", "suppressed_total"),
           ("sent", "sent"), ("delivered", "delivered"), ("failed", "failed"), ("shown", "shown"),
           ("clicked", "clicked"), ("queued", "queued"), ("released", "released"), ("conv.click", "click"),
           ("conv.view", "view"), ("revenue", "revenue"), ("test sent", "test_sent"))


def format_table(rows: list[dict]) -> str:
    """An aligned plain-text table, one line per campaign, then suppression reasons."""
    flat = []
    for stats in rows:
        flat.append({**stats, "click": stats["conversions"]["click"], "view": stats["conversions"]["view"],
                     "revenue": f"{stats['revenue']:.2f}", "test_sent": stats["test"]["sent"]})
    table = [[title for title, _ in COLUMNS]] + [[str(row[key]) for _, key in COLUMNS] for row in flat]
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]
    lines = []
    for n, line in enumerate(table):
        cells = [cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(line)]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    reasons = [(row["campaign"], reason, count) for row in rows for reason, count in row["suppressed"].items()]
    if reasons:
        lines.append("")
        lines.append("suppressed by reason:")
        for campaign, reason, count in reasons:
            lines.append(f"  {campaign}: {reason} {count}")
    return "\n".join(lines) + "\n"
