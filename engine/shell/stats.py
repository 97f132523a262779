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

A campaign with A/B variants also has `variants` ({name: qualified, sent, delivered,
shown, clicked, conversions, revenue}, from the `variant.<name>.*` counters), `control`
(the holdout: name, qualified, held_out, conversions, revenue, from `control.<name>.*`)
and `winner` (the decision of the winner rule, once made; engine/shell/winners.py).
"""

from __future__ import annotations

from engine.core.isotime import iso
from engine.shell.series import series

COUNTS = ("qualified", "queued", "released", "sent", "delivered", "failed", "unsubscribed", "shown",
          "clicked")
VARIANT_COUNTS = ("qualified", "sent", "delivered", "shown", "clicked", "conversions")
CONTROL_COUNTS = ("qualified", "held_out", "conversions")
TEST_COUNTS = ("sent", "delivered", "failed", "unsubscribed", "shown", "clicked")


def add_counts(into: dict[str, dict[str, float]], more: dict[str, dict[str, float]]) -> None:
    """Sum `more` ({campaign: {stat: amount}}) into `into` (the Kafka workers' partitions)."""
    for campaign, stats in more.items():
        mine = into.setdefault(campaign, {})
        for stat, amount in stats.items():
            mine[stat] = mine.get(stat, 0) + amount


def _int(value: float) -> int:
    return int(round(value))


def arms(metrics: dict[str, float], prefix: str, names: tuple[str, ...]) -> dict[str, dict]:
    """{arm name: its counts} of the `<prefix>.<name>.<stat>` counters."""
    found: dict[str, dict] = {}
    for key, value in metrics.items():
        kind, dot, rest = key.partition(".")
        name, dot2, stat = rest.rpartition(".")
        if kind != prefix or not dot or not dot2 or not name:
            continue
        found.setdefault(name, {})[stat] = value
    out = {}
    for name in sorted(found):
        counts = {stat: _int(found[name].get(stat, 0)) for stat in names}
        counts["revenue"] = round(found[name].get("revenue", 0.0), 2)
        out[name] = counts
    return out


def campaign_stats(campaign: str, metrics: dict[str, float], winner: dict | None = None,
                   engagement: dict | None = None) -> dict:
    """The stats of one campaign; `winner`: its A/B winner decision (`Decision.as_stats`);
    `engagement`: the engagement guard's verdict holding it back (engagement.as_stats)."""
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
    variants = arms(metrics, "variant", VARIANT_COUNTS)
    if variants or winner is not None:
        out["variants"] = variants
        controls = arms(metrics, "control", CONTROL_COUNTS)
        out["control"] = next(({"name": name, **counts} for name, counts in controls.items()), None)
        out["winner"] = winner
    out["engagement"] = engagement
    out["best_time"] = {m.split(".", 1)[1]: _int(v) for m, v in sorted(metrics.items()) if m.startswith("best_time.")}
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
    lines.extend(_variant_lines(rows))
    timed = [(row["campaign"], how, n) for row in rows for how, n in row.get("best_time", {}).items()]
    if timed:
        lines += ["", "timed by best_time:"]
        lines += [f"  {campaign}: {how} {n}" for campaign, how, n in timed]
    held = [(row["campaign"], row["engagement"]) for row in rows if row.get("engagement")]
    if held:
        lines += ["", "engagement guard:"]
        lines += [f"  {campaign}: {verdict['detail']} (since {_iso(verdict['since'])})" for campaign, verdict in held]
    return "\n".join(lines) + "\n"


ARM_COLUMNS = ("campaign", "variant", "qualified", "sent", "delivered", "shown", "clicked", "conversions", "revenue")


def _variant_lines(rows: list[dict]) -> list[str]:
    """Each A/B campaign's variants and control, then the winners decided."""
    table = []
    for row in rows:
        for name, counts in row.get("variants", {}).items():
            table.append([row["campaign"], name, *(str(counts[k]) for k in ARM_COLUMNS[2:-1]), f"{counts['revenue']:.2f}"])
        control = row.get("control")
        if control:
            table.append([row["campaign"], f"{control['name']} (control)", str(control["qualified"]),
                          f"held {control['held_out']}", "-", "-", "-", str(control["conversions"]),
                          f"{control['revenue']:.2f}"])
    if not table:
        return []
    table.insert(0, list(ARM_COLUMNS))
    widths = [max(len(line[i]) for line in table) for i in range(len(ARM_COLUMNS))]
    lines = ["", "variants:"]
    for line in table:
        cells = [cell.ljust(widths[i]) if i < 2 else cell.rjust(widths[i]) for i, cell in enumerate(line)]
        lines.append("  " + "  ".join(cells).rstrip())
    for row in rows:
        winner = row.get("winner")
        if winner:
            figures = ", ".join(f"{name} {f['successes']}/{f['sends']} P={f['probability']:.3f}"
                                for name, f in winner["figures"].items())
            lines.append(f"  winner {row['campaign']}: {winner['variant']} at {_iso(winner['at'])} "
                         f"({winner['metric']} per send: {figures})")
    return lines


def _iso(ms: int) -> str:
    return iso(ms)
