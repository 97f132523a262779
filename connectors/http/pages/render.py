"""The campaign pages' HTML, from plain dicts: the campaign's description (info.py), its
stats (engine/shell/stats.py `campaign_stats`, whatever fields they carry) and its last
counted reach. Every value from a campaign file, an event or the stats is escaped here
(`_e`): names, ids, reasons and variant names are user data.

Driven by the stats dict: optional funnel rows (`queued`,
`released`) show when the campaign took them; a `variants` field becomes a table;
other numbers and {name: number} maps the page does not know are listed as they come.
"""

from __future__ import annotations

from html import escape
from urllib.parse import quote

from connectors.http.pages.chart import BARS, choose_unit, svg_chart

# (stat, label, always shown): in funnel order.
FUNNEL = (("qualified", "Qualified", True), ("queued", "Queued", False), ("released", "Released", False),
          ("sent", "Sent", True), ("delivered", "Delivered", True), ("shown", "Shown", True),
          ("clicked", "Clicked", True), ("converted", "Converted", True))
# Fields shown in their own section (or not at all): everything else is listed as it comes.
KNOWN = {name for name, _, _ in FUNNEL} | {"campaign", "suppressed", "suppressed_total", "conversions", "revenue",
                                          "failed", "unsubscribed", "test", "series", "variants"}

STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#222}
header{background:#24292f;padding:8px 16px}header a{color:#fff;text-decoration:none;font-weight:600}
main{padding:12px 16px;max-width:1100px}
table{border-collapse:collapse;margin:8px 0 16px}th,td{padding:4px 10px;border-bottom:1px solid #ddd;text-align:left}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.status{padding:1px 6px;border-radius:3px;background:#eee}.status.active{background:#d4f4dd}
.status.paused,.status.ended{background:#f4e4d4}
.funnel .bar{display:inline-block;height:10px;background:#4c78a8}
.muted,.empty{color:#666}
""".strip()


def _e(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def campaign_href(campaign_id: str, **query: str) -> str:
    href = "/campaigns/" + quote(campaign_id, safe="")
    if query:
        href += "?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in query.items())
    return _e(href)


def _num(value: object) -> str:
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}"
    return f"{int(value):,}" if isinstance(value, (int, float)) else _e(value)


def _rate(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "–"


def page(title: str, body: str) -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_e(title)} · pushcast</title><style>{STYLE}</style></head>"
            f'<body><header><a href="/campaigns">pushcast campaigns</a></header><main>{body}</main></body></html>')


def converted(stats: dict) -> int:
    if "converted" in stats:
        return stats["converted"]
    return sum(v for v in (stats.get("conversions") or {}).values() if isinstance(v, (int, float)))


def _schedule(info: dict) -> str:
    if info.get("trigger"):
        return f'on <code class="trigger">{_e(info["trigger"])}</code>'
    parts = []
    if info.get("cron"):
        parts.append(f'<code class="cron">{_e(info["cron"])}</code> ({_e(info.get("timezone"))})')
    else:
        parts.append("dates")
    next_run = info.get("next_run")
    parts.append(f'next run <time class="next-run">{_e(next_run)}</time>' if next_run else "no run ahead")
    return ", ".join(parts)


def _reach(reach: dict | None, campaign_id: str) -> str:
    link = f'<a class="count-reach" href="{campaign_href(campaign_id, reach="1")}">count</a>'
    if reach is None:
        return link
    return (f'<span class="reach" data-reachable="{int(reach["reachable"])}">{_num(reach["reachable"])}</span> '
            f'<span class="muted">at {_e(reach["at"])}</span> ({link} again)')


def list_page(rows: list[dict]) -> str:
    """rows: {"info": describe(...), "stats": campaign_stats(...), "reach": dict | None}."""
    head = ("<tr><th>Campaign</th><th>Status</th><th>Trigger / schedule</th><th>Reach</th>"
            '<th class="n">Sent</th><th class="n">Delivered</th><th class="n">Clicked</th><th class="n">CTR</th>'
            '<th class="n">Converted</th><th class="n">Revenue</th></tr>')
    lines = []
    for row in rows:
        info, stats = row["info"], row["stats"]
        lines.append(
            f'<tr class="campaign" data-campaign="{_e(info["id"])}">'
            f'<td><a href="{campaign_href(info["id"])}">{_e(info["name"])}</a> '
            f'<span class="muted">{_e(info["id"])}</span></td>'
            f'<td><span class="status {_e(info["status"])}">{_e(info["status"])}</span></td>'
            f"<td>{_schedule(info)}</td><td>{_reach(row.get('reach'), info['id'])}</td>"
            f'<td class="n sent">{_num(stats["sent"])}</td><td class="n delivered">{_num(stats["delivered"])}</td>'
            f'<td class="n clicked">{_num(stats["clicked"])}</td>'
            f'<td class="n">{_rate(stats["clicked"], stats["delivered"])}</td>'
            f'<td class="n converted">{_num(converted(stats))}</td>'
            f'<td class="n revenue">{_num(stats.get("revenue", 0))}</td></tr>')
    body = f'<table class="campaigns">{head}{"".join(lines)}</table>' if lines else \
        '<p class="empty">No campaigns are loaded.</p>'
    return page("Campaigns", f"<h1>Campaigns</h1>{body}")


def funnel_rows(stats: dict) -> list[tuple[str, str, int]]:
    """(stat, label, count) for each funnel step; optional steps (queued, released) only
    when the campaign took them."""
    rows = []
    for stat, label, always in FUNNEL:
        if stat == "converted":
            rows.append((stat, label, converted(stats)))
        elif stats.get(stat) or always:
            rows.append((stat, label, stats.get(stat, 0)))
    return rows


def _funnel(stats: dict) -> str:
    rows = funnel_rows(stats)
    top = max([count for _, _, count in rows] + [1])
    first = rows[0][2]
    out = ['<table class="funnel"><tr><th>Step</th><th class="n">Count</th><th class="n">Of previous</th>'
           '<th class="n">Of qualified</th><th></th></tr>']
    previous = None
    for stat, label, count in rows:
        width = round(200 * count / top)
        out.append(f'<tr data-stat="{_e(stat)}"><th>{_e(label)}</th><td class="n count">{_num(count)}</td>'
                   f'<td class="n">{_rate(count, previous) if previous is not None else ""}</td>'
                   f'<td class="n">{_rate(count, first)}</td>'
                   f'<td><span class="bar" style="width:{width}px"></span></td></tr>')
        previous = count
    out.append("</table>")
    return "".join(out)


def _number_table(css: str, pairs: list[tuple[str, object]], key: str, empty: str) -> str:
    if not pairs:
        return f'<p class="empty">{_e(empty)}</p>'
    rows = "".join(f'<tr data-{key}="{_e(name)}"><th>{_e(name)}</th><td class="n">{_num(value)}</td></tr>'
                   for name, value in pairs)
    return f'<table class="{css}">{rows}</table>'


def _variant_rows(variants: object) -> list[tuple[str, dict]]:
    """{name: {stat: n}} or [{"variant"|"id"|"name": ..., stat: n}] as (name, figures)."""
    if isinstance(variants, dict):
        return [(str(name), figures) for name, figures in variants.items() if isinstance(figures, dict)]
    rows = []
    for item in variants if isinstance(variants, list) else ():
        if isinstance(item, dict):
            name = next((item[k] for k in ("variant", "id", "name") if k in item), "?")
            rows.append((str(name), item))
    return rows


def _variants(stats: dict) -> str:
    rows = _variant_rows(stats.get("variants"))
    if not rows:
        return ""
    order = [stat for stat, _, _ in FUNNEL]
    columns: list[str] = []
    for _, figures in rows:
        for key, value in figures.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and key not in columns:
                columns.append(key)
    columns.sort(key=lambda c: order.index(c) if c in order else len(order))
    head = "".join(f'<th class="n">{_e(c)}</th>' for c in columns)
    body = "".join(f'<tr data-variant="{_e(name)}"><th>{_e(name)}</th>'
                   + "".join(f'<td class="n" data-stat="{_e(c)}">{_num(figures.get(c, 0))}</td>' for c in columns)
                   + "</tr>" for name, figures in rows)
    return f'<h2>Variants</h2><table class="variants"><tr><th>Variant</th>{head}</tr>{body}</table>'


def _more(stats: dict) -> str:
    """Fields this page does not know (added by later stats): numbers, and maps of numbers."""
    numbers = [(k, v) for k, v in stats.items() if k not in KNOWN and isinstance(v, (int, float))
               and not isinstance(v, bool)]
    out = [f"<h2>More figures</h2>{_number_table('more', numbers, 'stat', '')}"] if numbers else []
    for key, value in stats.items():
        if key not in KNOWN and isinstance(value, dict) and value and all(
                isinstance(v, (int, float)) for v in value.values()):
            out.append(f"<h2>{_e(key)}</h2>{_number_table('more', list(value.items()), 'key', '')}")
    return "".join(out)


def _chart(stats: dict, campaign_id: str, asked: str | None) -> str:
    series = stats.get("series") or {}
    unit = choose_unit(series, asked)
    points = series.get(unit) or []
    switch = " · ".join(f'<a href="{campaign_href(campaign_id, by=u)}">per {u}</a>' for u in ("hour", "day") if u != unit)
    cells = "".join(f'<tr><td>{_e(p.get("at"))}</td>' + "".join(f'<td class="n">{_num(p.get(s, 0))}</td>'
                                                             for s, _ in BARS) + "</tr>" for p in points)
    table = (f'<details><summary>as a table</summary><table class="series"><tr><th>{_e(unit)}</th>'
             + "".join(f'<th class="n">{_e(s)}</th>' for s, _ in BARS) + f"</tr>{cells}</table></details>"
             if points else "")
    return (f'<h2>Sends and clicks per {_e(unit)} <small>({switch})</small></h2>'
            f"{svg_chart(points, unit)}{table}")


def campaign_page(info: dict, stats: dict, reach: dict | None, asked_unit: str | None = None) -> str:
    """One campaign: description, reach, funnel, revenue, suppressions, chart, variants."""
    campaign_id = info["id"]
    reach_html = _reach(reach, campaign_id)
    if reach is not None:
        reach_html += (f' — qualified {_num(reach["qualified"])}, no subscription {_num(reach["no_subscription"])},'
                       f' test profiles {_num(reach["test_profiles"])}, of {_num(reach["users"])} users')
    suppressed = sorted((stats.get("suppressed") or {}).items(), key=lambda kv: (-kv[1], kv[0]))
    conversions = stats.get("conversions") or {}
    test = stats.get("test") or {}
    body = [
        f'<h1>{_e(info.get("name") or campaign_id)}</h1>',
        f'<p><span class="muted">{_e(campaign_id)}</span> · <span class="status {_e(info.get("status"))}">'
        f'{_e(info.get("status"))}</span> · {_schedule(info)}'
        + (f' · <span class="muted">{_e(info["file"])}</span>' if info.get("file") else "") + "</p>",
        f"<p>Reach now: {reach_html}</p>",
        "<h2>Funnel</h2>", _funnel(stats),
        f'<p>Revenue <strong class="revenue">{_num(stats.get("revenue", 0))}</strong> · conversions '
        f'by click <span class="conv-click">{_num(conversions.get("click", 0))}</span>, '
        f'by view <span class="conv-view">{_num(conversions.get("view", 0))}</span> · '
        f'failed <span class="failed">{_num(stats.get("failed", 0))}</span> · '
        f'unsubscribed <span class="unsubscribed">{_num(stats.get("unsubscribed", 0))}</span></p>',
        f'<h2>Suppressed by reason <small class="muted">({_num(stats.get("suppressed_total", 0))})</small></h2>',
        _number_table("suppressed", suppressed, "reason", "Nothing suppressed."),
        _chart(stats, campaign_id, asked_unit),
        _variants(stats),
        _more(stats),
        "<h2>Test sends</h2>",
        _number_table("test", list(test.items()), "stat", "None."),
    ]
    return page(info.get("name") or campaign_id, "".join(body))


def message_page(title: str, text: str) -> str:
    return page(title, f"<h1>{_e(title)}</h1><p>{_e(text)}</p>")
