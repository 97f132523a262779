"""The campaign pages' HTML (connectors/http/pages/render.py, chart.py): escaping of user
data, the funnel's numbers, rows and tables that appear only when the stats carry them."""

from __future__ import annotations

from html.parser import HTMLParser

from connectors.http.pages.chart import choose_unit, svg_chart
from connectors.http.pages.render import campaign_page, funnel_rows, list_page
from engine.shell.stats import campaign_stats

HOSTILE = '<script>alert("x")</script>&\'"'
INFO = {"id": "cart", "name": "Cart <b>reminder</b>", "status": "active", "kind": "live", "trigger": "Added To Cart",
        "cron": None, "timezone": None, "next_run": None, "file": "campaigns.d/cart.yaml"}


def stats_of(**metrics) -> dict:
    return campaign_stats("cart", {k.replace("__", "."): v for k, v in metrics.items()})


class Cells(HTMLParser):
    """Text of the elements with a given attribute value, and every tag seen."""

    def __init__(self):
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        self.text.append(data)


def parsed(html: str) -> Cells:
    cells = Cells()
    cells.feed(html)
    return cells


def test_user_data_is_escaped_everywhere():
    stats = stats_of(qualified=2, suppressed__dnd=1)
    stats["suppressed"][HOSTILE] = 4
    stats["variants"] = {HOSTILE: {"sent": 1}}
    stats[HOSTILE] = 3
    info = {**INFO, "id": HOSTILE, "name": HOSTILE, "trigger": HOSTILE, "file": HOSTILE}
    for html in (campaign_page(info, stats, None), list_page([{"info": info, "stats": stats, "reach": None}])):
        assert "<script>" not in html and 'alert("x")' not in html
        assert "script" not in parsed(html).tags
        assert HOSTILE in "".join(parsed(html).text)  # shown, as text
    # A link to the campaign escapes its id as a URL path segment.
    assert 'href="/campaigns/%3Cscript%3Ealert%28%22x%22%29%3C%2Fscript%3E%26%27%22"' in list_page(
        [{"info": info, "stats": stats, "reach": None}])


def test_the_funnel_counts_each_step_and_conversions_of_both_kinds():
    stats = stats_of(qualified=10, sent=8, delivered=7, shown=5, clicked=3, conversions__click=2, conversions__view=1)
    assert funnel_rows(stats) == [("qualified", "Qualified", 10), ("sent", "Sent", 8), ("delivered", "Delivered", 7),
                                  ("shown", "Shown", 5), ("clicked", "Clicked", 3), ("converted", "Converted", 3)]
    html = campaign_page(INFO, stats, None)
    assert '<tr data-stat="clicked"><th>Clicked</th><td class="n count">3</td><td class="n">60.0%</td>' \
           '<td class="n">30.0%</td>' in html


def test_rows_the_campaign_did_not_take_are_left_out_until_it_does():
    stats = stats_of(qualified=4, sent=2)
    assert "queued" not in [stat for stat, _, _ in funnel_rows(stats)]
    stats.update(queued=0)
    assert "queued" not in [stat for stat, _, _ in funnel_rows(stats)]
    assert "Variants" not in campaign_page(INFO, stats, None)
    stats.update(queued=3, released=2, variants={"a": {"sent": 1, "clicked": 1}, "b": {"sent": 1}},
                 decisions={"limit": 2})
    assert [stat for stat, _, _ in funnel_rows(stats)][:4] == ["qualified", "queued", "released", "sent"]
    html = campaign_page(INFO, stats, None)
    assert '<tr data-variant="b"><th>b</th><td class="n" data-stat="sent">1</td>' \
           '<td class="n" data-stat="clicked">0</td></tr>' in html
    assert '<tr data-key="limit"><th>limit</th><td class="n">2</td></tr>' in html


def test_suppressions_are_listed_by_reason_most_first():
    html = campaign_page(INFO, stats_of(qualified=5, suppressed__dnd=1, suppressed__limit=3), None)
    assert html.index('data-reason="limit"') < html.index('data-reason="dnd"')
    assert '<small class="muted">(4)</small>' in html


def test_the_chart_is_per_hour_over_two_days_per_day_beyond_and_as_asked():
    hours = [{"at": f"h{i}", "sent": i, "clicked": 0} for i in range(48)]
    days = [{"at": "2026-11-25", "sent": 1, "clicked": 1}]
    assert choose_unit({"hour": hours, "day": days}, None) == "hour"
    assert choose_unit({"hour": hours + hours[:1], "day": days}, None) == "day"
    assert choose_unit({"hour": hours, "day": days}, "day") == "day"
    assert choose_unit({"hour": [], "day": days}, "hour") == "day"  # nothing per hour to draw


def test_bars_are_scaled_to_a_round_axis_and_carry_their_figures():
    svg = svg_chart([{"at": "2026-11-25", "sent": 7, "clicked": 2}], "day")
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert 'data-sent="7"' in svg and 'data-clicked="2"' in svg and ">10</text>" in svg
    assert "<title>2026-11-25: 7 sent</title>" in svg
    assert "No sends" in svg_chart([], "hour")


def test_the_list_shows_each_campaigns_headline_figures_and_reach():
    stats = stats_of(sent=4, delivered=4, clicked=1, conversions__click=1, revenue=12.5)
    reach = {"reachable": 42, "at": "2026-11-25T10:00:00.000Z"}
    html = list_page([{"info": {**INFO, "kind": "scheduled", "trigger": None, "cron": "0 10 * * 1",
                                "timezone": "Europe/Berlin", "next_run": "2026-11-30T09:00:00.000Z"},
                       "stats": stats, "reach": reach}])
    assert '<td class="n sent">4</td>' in html and '<td class="n">25.0%</td>' in html
    assert '<td class="n revenue">12.50</td>' in html and 'data-reachable="42"' in html
    assert '<time class="next-run">2026-11-30T09:00:00.000Z</time>' in html
    assert "No campaigns are loaded." in list_page([])
