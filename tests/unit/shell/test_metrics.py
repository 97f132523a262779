"""One set of metric names for both runtimes: every name and label the Grafana dashboard
queries is exported by each runtime it is meant for, the campaign stats map onto the
right series, and the names the two runtimes used to disagree on are gone."""

import asyncio
import io
import json
import logging
import re
import threading
import urllib.request
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from engine.shell.metrics import EMBEDDED, WORKER, embedded_metrics, worker_metrics

ROOT = Path(__file__).resolve().parents[3]
DASHBOARDS = sorted((ROOT / "deploy" / "grafana" / "dashboards").glob("*.json"))
# A panel whose title names a runtime reads metrics only that runtime has.
RUNTIME_MARKERS = {"(Kafka workers)": {WORKER}, "(embedded runtime)": {EMBEDDED}}
SCRAPE_LABELS = {"instance", "job", "le"}  # added by Prometheus, or part of every histogram
ALL_STATS = ["qualified", "queued", "released", "suppressed.limit", "sent", "delivered", "failed", "unsubscribed", "shown",
             "clicked", "conversions.click", "conversions.view", "revenue", "variant.a.sent", "variant.a.revenue",
             "control.holdout.held_out", "best_time.fallback",
             *(f"test.{s}" for s in ("sent", "delivered", "failed", "unsubscribed", "shown", "clicked"))]
OLD_NAMES = [  # each measure's other name, before both runtimes shared one module
    "pushcast_campaign_qualified_total", "pushcast_triggers_qualified_total",
    "pushcast_campaign_suppressed_total", "pushcast_triggers_suppressed_total",
    "pushcast_timer_lateness_seconds", "pushcast_push_send_seconds", "pushcast_batch_commit_seconds",
    "pushcast_notifications_total", "pushcast_test_sends_total", "pushcast_timers_pending", "pushcast_events_total",
]


class RealClock:
    settable = False


def _embedded():
    """Every entry point the embedded runtime calls (runtime, outbox, reloader, HTTP)."""
    m = embedded_metrics(CollectorRegistry())
    m.committed({("cart", stat): 1 for stat in ALL_STATS}, items=3, seconds=0.01)
    m.timer_fired(RealClock(), due=0)
    m.push_answered("sent", "fcm.googleapis.com", 0.2, decided_ms=1_000, now_ms=1_500)
    m.processing_error()
    m.reloaded(True, 2)
    m.events_accepted.labels("http").inc()
    m.events_rejected.labels("file").inc()
    m.http_requests.labels("/v1/events", "200").inc()
    m.rate_limited.inc()
    m.outbox_pending.set(1)
    m.waits_pending.set(1)
    return m


def _worker():
    """Every entry point a Kafka worker calls (user agent, sender agent, timers, reload)."""
    m = worker_metrics(CollectorRegistry())
    with m.batch_seconds.time():
        m.counted({("cart", stat): 1 for stat in ALL_STATS})
    m.batch_items.inc(3)
    m.events.labels("user").inc()
    m.replayed.inc()
    m.records_skipped.labels("pushcast-events").inc()
    m.dead_letters.labels("pushcast-events", "processing").inc()
    m.processing_error()
    m.push_answered("sent", "fcm.googleapis.com", 0.2, decided_ms=1_000, now_ms=1_500)
    m.send_duplicates.inc()
    m.waits_pending.set(1)
    m.wakes_fired.inc()
    m.wait_lateness.observe(0.01)
    m.scheduled_runs.labels("cart").inc()
    m.reloaded(True, 2)
    return m


def _series(metrics) -> dict[str, set[str]]:
    """Exported sample name -> the label names its samples carry."""
    out: dict[str, set[str]] = {}
    for family in metrics.registry.collect():
        for sample in family.samples:
            out.setdefault(sample.name, set()).update(sample.labels)
    return out


RUNTIMES = {EMBEDDED: _series(_embedded()), WORKER: _series(_worker())}


def _queries():
    """(dashboard, panel title, runtimes meant, metric name, label names) per queried metric."""
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            meant = next((r for marker, r in RUNTIME_MARKERS.items() if marker in panel["title"]), {EMBEDDED, WORKER})
            for target in panel["targets"]:
                expr = target["expr"]
                grouped = {label.strip() for group in re.findall(r"by \(([^)]*)\)", expr) for label in group.split(",")}
                for name, selector in re.findall(r"(pushcast_[a-z_]+)(\{[^}]*\})?", expr):
                    labels = set(re.findall(r"([a-z_]+)\s*=~?", selector)) | grouped
                    yield path.name, panel["title"], meant, name, labels - SCRAPE_LABELS


def test_there_is_a_dashboard_and_it_queries_pushcast_metrics():
    assert DASHBOARDS
    assert len({name for *_, name, _ in _queries()}) >= 15


@pytest.mark.parametrize("runtime", [EMBEDDED, WORKER])
def test_every_name_and_label_a_dashboard_queries_is_exported_by_the_runtimes_it_is_for(runtime):
    series = RUNTIMES[runtime]
    for dashboard, title, meant, name, labels in _queries():
        if runtime not in meant:
            continue
        assert name in series, f"{dashboard} '{title}' queries {name}, which the {runtime} runtime does not export"
        assert labels <= series[name], f"{dashboard} '{title}' groups {name} by {labels - series[name]}, " \
                                       f"which the {runtime} runtime's series lack"


def test_a_panel_marked_for_one_runtime_reads_what_only_that_runtime_has():
    marked = [(title, meant, name) for _, title, meant, name, _ in _queries() if meant != {EMBEDDED, WORKER}]
    assert {frozenset(meant) for _, meant, _ in marked} == {frozenset({EMBEDDED}), frozenset({WORKER})}
    for title, meant, name in marked:
        (other,) = {EMBEDDED, WORKER} - meant
        assert name not in RUNTIMES[other], f"'{title}' reads {name}, which both runtimes export: unmark it"


def test_the_funnel_panel_follows_a_campaign_from_sent_to_revenue():
    funnel = [q for q in _queries() if "funnel" in q[1].lower()]
    names = [name for *_, name, _ in funnel]
    assert names == ["pushcast_notifications_sent_total", "pushcast_notifications_delivered_total",
                     "pushcast_notifications_shown_total", "pushcast_notifications_clicked_total",
                     "pushcast_conversions_total", "pushcast_revenue_total"]
    assert all("campaign" in labels for *_, labels in funnel)


def test_the_old_divergent_names_are_gone():
    for runtime, series in RUNTIMES.items():
        for old in OLD_NAMES:
            assert not any(name.startswith(old) for name in series), f"the {runtime} runtime still exports {old}"
    files = [ROOT / "README.md", *DASHBOARDS, *(p for d in ("engine", "connectors", "bench", "deploy", "tests")
                                                for p in (ROOT / d).rglob("*.py") if p != Path(__file__))]
    for file in files:
        text = file.read_text()
        for old in OLD_NAMES:
            assert not re.search(rf"\b{old}\b", text), f"{file.relative_to(ROOT)} still names {old}"


@pytest.mark.parametrize("runtime", [EMBEDDED, WORKER])
def test_names_follow_prometheus_conventions_and_never_carry_a_user(runtime):
    metrics = _embedded() if runtime == EMBEDDED else _worker()
    for family in metrics.registry.collect():
        assert family.name.startswith("pushcast_")
        if family.type == "histogram":
            assert family.name.endswith("_seconds"), family.name
        if family.type == "counter":
            assert any(s.name == family.name + "_total" for s in family.samples), family.name
        for sample in family.samples:
            assert "user" not in sample.labels, family.name


@pytest.mark.parametrize("make", [embedded_metrics, worker_metrics])
def test_campaign_stats_land_on_one_series_each(make):
    m = make(CollectorRegistry())
    m.counted({("cart", "qualified"): 2, ("cart", "suppressed.dnd"): 1, ("cart", "sent"): 1,
               ("cart", "test.sent"): 3, ("cart", "test.clicked"): 1, ("cart", "unsubscribed"): 1,
               ("cart", "conversions.view"): 1, ("cart", "revenue"): 19.5})
    value = m.registry.get_sample_value
    assert value("pushcast_qualified_total", {"campaign": "cart"}) == 2
    assert value("pushcast_suppressed_total", {"campaign": "cart", "reason": "dnd"}) == 1
    assert value("pushcast_notifications_sent_total", {"campaign": "cart", "test": "false"}) == 1
    assert value("pushcast_notifications_sent_total", {"campaign": "cart", "test": "true"}) == 3
    assert value("pushcast_notifications_clicked_total", {"campaign": "cart", "test": "true"}) == 1
    assert value("pushcast_notifications_clicked_total", {"campaign": "cart", "test": "false"}) is None
    assert value("pushcast_subscriptions_expired_total", {"campaign": "cart", "test": "false"}) == 1
    assert value("pushcast_conversions_total", {"campaign": "cart", "kind": "view"}) == 1
    assert value("pushcast_revenue_total", {"campaign": "cart"}) == 19.5


def test_a_stat_without_a_metric_is_logged_once_and_counts_nothing(caplog):
    m = worker_metrics(CollectorRegistry())
    before = _series(m)
    with caplog.at_level(logging.WARNING, logger="engine.shell.metrics"):
        m.counted({("cart", "bogus"): 1, ("cart", "test.qualified"): 1, ("cart", "suppressed"): 1})
        m.counted({("cart", "bogus"): 1})
    assert _series(m) == before
    assert sorted(r.getMessage().split("'")[1] for r in caplog.records) == ["bogus", "suppressed", "test.qualified"]


def test_a_runtime_has_no_attribute_for_the_other_runtimes_metrics():
    with pytest.raises(AttributeError):
        worker_metrics(CollectorRegistry()).outbox_pending
    with pytest.raises(AttributeError):
        embedded_metrics(CollectorRegistry()).dead_letters


def test_lateness_is_not_measured_on_a_clock_the_tests_move():
    class TestClock:
        settable = True

    m = embedded_metrics(CollectorRegistry())
    m.timer_fired(TestClock(), due=0)
    assert m.registry.get_sample_value("pushcast_wait_lateness_seconds_count") == 0
    m.timer_fired(RealClock(), due=0)
    assert m.registry.get_sample_value("pushcast_wait_lateness_seconds_count") == 1


def test_the_time_from_decision_to_answer_is_measured_only_when_both_are_known():
    m = worker_metrics(CollectorRegistry())
    m.push_answered("failed", "invalid")
    m.push_answered("sent", "push.example", 0.1, decided_ms=1_000, now_ms=3_000)
    value = m.registry.get_sample_value
    assert value("pushcast_sends_total", {"outcome": "failed", "service": "invalid"}) == 1
    assert value("pushcast_send_duration_seconds_count", {"outcome": "failed"}) is None
    assert value("pushcast_trigger_to_send_seconds_count") == 1
    assert value("pushcast_trigger_to_send_seconds_sum") == 2.0


def _served_metrics(tmp_path: Path) -> str:
    """`pushcast run` started in-process as the CLI starts it, and its /metrics read."""
    from engine.local.server import RunOptions, serve

    (tmp_path / "pushcast.yaml").write_text("timezone: UTC\n")
    options = RunOptions(config=tmp_path / "pushcast.yaml", campaigns=ROOT / "campaigns.d", port=0,
                         state_dir=tmp_path / "state", test_clock="now")

    async def main() -> str:
        ready, stop, out = asyncio.Event(), asyncio.Event(), io.StringIO()
        server = asyncio.create_task(serve(options, ready=ready, stop=stop, out=out))
        await asyncio.wait([server, asyncio.create_task(ready.wait())], return_when=asyncio.FIRST_COMPLETED)
        assert ready.is_set(), out.getvalue()
        url = re.search(r"listening on (http://\S+)", out.getvalue()).group(1)
        try:
            response = await asyncio.to_thread(urllib.request.urlopen, url + "/metrics", timeout=10)
            return response.read().decode()
        finally:
            stop.set()
            await server

    # Its own thread and loop: serve() installs signal handlers, which stay with that loop.
    result: list = []

    def run() -> None:
        try:
            result.append(asyncio.run(main()))
        except BaseException as exc:  # raised again in the test's thread, where pytest sees it
            result.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if isinstance(result[0], BaseException):
        raise result[0]
    return result[0]


# The client names a counter's family with or without `_total`, by version: allow both.
SUFFIXES = {"counter": ("", "_total"), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


def _declared(exposition: str) -> set[str]:
    """Every sample name a metric family in this exposition can have."""
    names = set()
    for line in exposition.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            names |= {name + suffix for suffix in SUFFIXES.get(kind, ("",))}
    return names


def test_the_runtimes_as_started_export_every_name_the_dashboard_queries(tmp_path):
    from engine.agents.app import create_runtime
    from engine.agents.settings import WorkerSettings

    worker = create_runtime(WorkerSettings(campaigns=[ROOT / "campaigns.d"], data_dir=tmp_path / "kafka",
                                           store="memory", metrics_port=None))
    started = {EMBEDDED: _declared(_served_metrics(tmp_path)), WORKER: _declared(worker.metrics.exposition().decode())}
    for dashboard, title, meant, name, _ in _queries():
        for runtime in meant:
            assert name in started[runtime], f"{dashboard} '{title}': a started {runtime} runtime lacks {name}"
