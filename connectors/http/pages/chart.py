"""Sends and clicks per hour or per day as an inline SVG bar chart: drawn here, so the
page needs no JavaScript, no build step and nothing from another host."""

from __future__ import annotations

from html import escape

WIDTH, HEIGHT = 720, 220
LEFT, RIGHT, TOP, BOTTOM = 48, 8, 12, 36
# The charted stats, in drawing order, with their colours (the legend uses the same).
BARS = (("sent", "#4c78a8"), ("clicked", "#f58518"))
HOURLY_MAX_POINTS = 48  # longer ranges are drawn per day
MAX_BAR = 24.0


def choose_unit(series: dict, asked: str | None) -> str:
    """`asked` ("hour"/"day") when it has points; else per hour over at most two days of
    activity, per day beyond."""
    if asked in ("hour", "day") and series.get(asked):
        return asked
    hours = series.get("hour") or []
    return "hour" if hours and len(hours) <= HOURLY_MAX_POINTS else "day"


def _nice_max(value: int) -> int:
    """A round axis top at or above `value` (1, 2, 5 x 10^n)."""
    step = 1
    while True:
        for m in (1, 2, 5):
            if m * step >= value:
                return m * step
        step *= 10


def svg_chart(points: list[dict], unit: str) -> str:
    """The chart of `points` ({"at": label, "sent": n, "clicked": n}); each bar carries a
    <title> (a tooltip without script) and data attributes the tests read."""
    if not points:
        return '<p class="empty">No sends or clicks yet.</p>'
    top = _nice_max(max(max(p.get(stat, 0) for stat, _ in BARS) for p in points) or 1)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / len(points)
    bar = min(MAX_BAR, max(1.0, slot * 0.8 / len(BARS)))  # a few points stay bars, not blocks
    every = max(1, round(len(points) / 8))  # about eight labels on the axis
    parts = [f'<svg class="chart" role="img" aria-label="sends and clicks per {unit}" '
             f'viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" xmlns="http://www.w3.org/2000/svg">',
             f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - RIGHT}" y2="{TOP + plot_h}" stroke="#888"/>',
             f'<text x="{LEFT - 6}" y="{TOP + 4}" text-anchor="end" font-size="11">{top}</text>',
             f'<text x="{LEFT - 6}" y="{TOP + plot_h}" text-anchor="end" font-size="11">0</text>']
    for i, point in enumerate(points):
        x0 = LEFT + i * slot + slot * 0.1
        label = escape(str(point.get("at", "")))
        for n, (stat, colour) in enumerate(BARS):
            value = int(point.get(stat, 0))
            h = plot_h * value / top
            parts.append(f'<rect class="bar {stat}" data-at="{label}" data-{stat}="{value}" '
                         f'x="{x0 + n * bar:.1f}" y="{TOP + plot_h - h:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                         f'fill="{colour}"><title>{label}: {value} {stat}</title></rect>')
        if i % every == 0:
            short = label[11:16] if unit == "hour" and i else label[5:] if unit == "day" else label[5:16]
            parts.append(f'<text x="{x0:.1f}" y="{HEIGHT - BOTTOM + 14}" font-size="10">{short}</text>')
    legend_x = LEFT
    for stat, colour in BARS:
        parts.append(f'<rect x="{legend_x}" y="{HEIGHT - 12}" width="10" height="10" fill="{colour}"/>'
                     f'<text x="{legend_x + 14}" y="{HEIGHT - 3}" font-size="11">{stat}</text>')
        legend_x += 80
    parts.append("</svg>")
    return "".join(parts)
