"""Every Prometheus metric of pushcast, declared once, for both runtimes.

One name per measure and one set of labels, whichever runtime measures it, so a single
dashboard reads the embedded runtime (`pushcast run`, `/metrics`) and the Kafka workers
(`:9464/metrics`) alike. Conventions: `_total` counters, `_seconds` histograms in base
units, campaign (and reason, kind, outcome) as labels, never a user id.

A metric only one runtime has (the embedded outbox, the workers' dead letters) is
declared here too, marked with that runtime, and registered only there: the other
runtime's `/metrics` does not show a series it can never move.

Per-campaign counters take the campaign stats' keys (`counted`), so the metrics and the
stored stats count the same things under the same names. Counters are process-local, as
Prometheus expects (they restart from zero; `rate()` and `increase()` cope).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from engine.shell.series import is_series

log = logging.getLogger(__name__)

EMBEDDED, WORKER, GATEWAY = "embedded", "worker", "gateway"
BOTH = frozenset({EMBEDDED, WORKER})
HTTP_EDGE = frozenset({EMBEDDED, GATEWAY})  # what serves the HTTP API: pushcast run, pushcast gateway

BATCH_BUCKETS = (.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30)
LATENCY_BUCKETS = (.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30)
LATENESS_BUCKETS = (.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 30, 300)

# The stats of one message's life; a test send counts them too, under test="true".
MESSAGE_STATS = ("sent", "delivered", "failed", "unsubscribed", "shown", "clicked")
CAMPAIGN, MESSAGE = ("campaign",), ("campaign", "test")


@dataclass(frozen=True)
class Spec:
    attr: str  # the attribute of `Metrics` that holds it
    kind: type  # Counter, Gauge or Histogram
    name: str
    help: str
    labels: tuple[str, ...] = ()
    runtimes: frozenset = BOTH
    buckets: tuple[float, ...] | None = None

    def build(self, registry: CollectorRegistry):
        extra = {"buckets": self.buckets} if self.buckets else {}
        return self.kind(self.name, self.help, list(self.labels), registry=registry, **extra)


SPECS = (
    # Decisions and a message's life, per campaign: the campaign stats' keys (`counted`).
    Spec("qualified", Counter, "pushcast_qualified_total", "Users who qualified for a campaign", CAMPAIGN),
    Spec("suppressed", Counter, "pushcast_suppressed_total", "Qualified messages not sent, by reason",
         ("campaign", "reason")),
    Spec("queued", Counter, "pushcast_queued_total",
         "Messages a frequency limit held and queued (on_limit: queue), once per message", CAMPAIGN),
    Spec("released", Counter, "pushcast_released_total", "Queued messages sent when the limits freed", CAMPAIGN),
    Spec("sent", Counter, "pushcast_notifications_sent_total", "Messages decided and queued for sending", MESSAGE),
    Spec("delivered", Counter, "pushcast_notifications_delivered_total",
         "Subscriptions whose push service accepted the message", MESSAGE),
    Spec("failed", Counter, "pushcast_notifications_failed_total", "Subscriptions the message could not reach",
         MESSAGE),
    Spec("unsubscribed", Counter, "pushcast_subscriptions_expired_total",
         "Subscriptions removed after a 404/410 from their push service", MESSAGE),
    Spec("shown", Counter, "pushcast_notifications_shown_total", "Messages reported shown", MESSAGE),
    Spec("clicked", Counter, "pushcast_notifications_clicked_total", "Messages reported clicked", MESSAGE),
    Spec("conversions", Counter, "pushcast_conversions_total", "Conversions attributed, by kind (click, view)",
         ("campaign", "kind")),
    Spec("revenue", Counter, "pushcast_revenue_total", "Revenue of attributed conversions", CAMPAIGN),
    # A/B variants (what.variants): the same stats per variant, and the control's (holdout).
    Spec("variant_events", Counter, "pushcast_variant_events_total",
         "A/B variants' counts by stat: qualified, sent, delivered, shown, clicked, conversions; for the "
         "control (holdout): qualified, held_out, conversions", ("campaign", "variant", "stat")),
    Spec("variant_revenue", Counter, "pushcast_variant_revenue_total",
         "Revenue of the conversions of each A/B variant and of the control", ("campaign", "variant")),
    Spec("winners_judged", Gauge, "pushcast_winners_judged_timestamp_seconds",
         "The runtime clock's time of the last A/B winner judgement (Kafka: on the owner of partition 0)"),
    Spec("best_time", Counter, "pushcast_best_time_total",
         "Messages when.best_time timed, by how: best_hour (the user's own), fallback, no_slot (at the slot)",
         ("campaign", "how")),
    # The engagement guard (pushcast.yaml `engagement`), per scope: a campaign id, or * for the site.
    Spec("engagement_guard", Gauge, "pushcast_engagement_guard",
         "The engagement guard's verdict: 0 none, 1 throttled, 2 paused (Kafka: on the owner of partition 0)",
         ("scope",)),
    # Applying inputs.
    Spec("batch_seconds", Histogram, "pushcast_batch_duration_seconds",
         "Time to apply one batch of inputs and make it durable", buckets=BATCH_BUCKETS),
    Spec("batch_items", Counter, "pushcast_batch_items_total", "Inputs taken up in applied batches"),
    Spec("processing_errors", Counter, "pushcast_processing_errors_total",
         "Inputs that raised while being applied (a bug; logged)"),
    Spec("waits_pending", Gauge, "pushcast_waits_pending", "Users with a pending wait (on this worker's partitions)"),
    Spec("wait_lateness", Histogram, "pushcast_wait_lateness_seconds", "How late a due wait was taken up",
         buckets=LATENESS_BUCKETS),
    # Sending.
    Spec("sends", Counter, "pushcast_sends_total", "Deliveries to one subscription, by outcome and push service",
         ("outcome", "service")),
    Spec("send_seconds", Histogram, "pushcast_send_duration_seconds",
         "Time from the first attempt to a push service's final answer", ("outcome",), buckets=LATENCY_BUCKETS),
    Spec("trigger_to_send", Histogram, "pushcast_trigger_to_send_seconds",
         "From the decision to the push service's final answer", buckets=LATENCY_BUCKETS),
    # Campaign files.
    Spec("reload_ok", Gauge, "pushcast_config_last_reload_successful", "1 when the last campaign reload succeeded",
         runtimes=BOTH | HTTP_EDGE),
    Spec("reload_time", Gauge, "pushcast_config_last_reload_success_timestamp_seconds",
         "When the campaigns were last loaded successfully", runtimes=BOTH | HTTP_EDGE),
    Spec("campaigns_loaded", Gauge, "pushcast_campaigns_loaded", "Campaigns running", runtimes=BOTH | HTTP_EDGE),
    # The embedded runtime only: its HTTP edge and its SQLite outbox.
    Spec("events_accepted", Counter, "pushcast_events_accepted_total", "Events accepted, by source (http, file)",
         ("source",), HTTP_EDGE),
    Spec("events_rejected", Counter, "pushcast_events_rejected_total", "Events refused as malformed, by source",
         ("source",), HTTP_EDGE),
    Spec("outbox_pending", Gauge, "pushcast_outbox_pending", "Sends queued and not yet answered",
         runtimes=frozenset({EMBEDDED})),
    Spec("http_requests", Counter, "pushcast_http_requests_total", "HTTP requests, by route and status",
         ("route", "status"), HTTP_EDGE),
    Spec("rate_limited", Counter, "pushcast_http_rate_limited_total", "Browser requests refused by the rate limit",
         runtimes=HTTP_EDGE),
    # The Kafka workers only: records, offsets, dead letters, Redis de-duplication, wake-ups.
    Spec("events", Counter, "pushcast_events_consumed_total",
         "Records applied by the user agent, by type (user, system, wake, run, test)", ("type",), frozenset({WORKER})),
    Spec("replayed", Counter, "pushcast_events_replayed_total",
         "Redelivered records skipped because the state already had them", runtimes=frozenset({WORKER})),
    Spec("records_skipped", Counter, "pushcast_records_skipped_total",
         "Records not applied on delivery: redelivered, after a hole (read again) or of a revoked partition",
         ("topic",), frozenset({WORKER})),
    Spec("dead_letters", Counter, "pushcast_dead_letters_total", "Records sent to the dead-letter topic",
         ("topic", "field"), frozenset({WORKER})),
    Spec("send_duplicates", Counter, "pushcast_sends_deduplicated_total",
         "Deliveries skipped because another attempt already claimed or made them", runtimes=frozenset({WORKER})),
    Spec("wakes_fired", Counter, "pushcast_wakes_fired_total", "Wake-up records produced",
         runtimes=frozenset({WORKER})),
    Spec("scheduled_runs", Counter, "pushcast_scheduled_runs_total", "Scheduled campaign runs started",
         CAMPAIGN, frozenset({WORKER})),
)


class Metrics:
    """The metrics of one runtime (`embedded`, `worker` or `gateway`), on a registry of its own
    unless one is given (tests inject theirs). Each metric is the attribute its spec names."""

    def __init__(self, runtime: str, registry: CollectorRegistry | None = None):
        if runtime not in BOTH | HTTP_EDGE:
            raise ValueError(f"unknown runtime {runtime!r}")
        self.runtime = runtime
        self.registry = registry if registry is not None else CollectorRegistry()
        self._unknown: set[str] = set()
        for spec in SPECS:
            if runtime in spec.runtimes:
                setattr(self, spec.attr, spec.build(self.registry))

    def counted(self, counts: dict[tuple[str, str], float]) -> None:
        """Count what a batch counted in the campaign stats: (campaign, stat) -> amount."""
        for (campaign, stat), amount in counts.items():
            if is_series(stat):
                continue  # the chart's hour/day buckets: the counters have rate() for that
            name, test = (stat[5:], "true") if stat.startswith("test.") else (stat, "false")
            kind, _, detail = name.partition(".")
            arm, _, arm_stat = detail.rpartition(".")
            if kind in ("variant", "control") and arm and test == "false":
                if arm_stat == "revenue":
                    self.variant_revenue.labels(campaign, arm).inc(amount)
                else:
                    self.variant_events.labels(campaign, arm, arm_stat).inc(amount)
            elif name in MESSAGE_STATS:
                getattr(self, name).labels(campaign, test).inc(amount)
            elif test == "true":  # test sends count only a message's life (they bypass the rest)
                self._unknown_stat(stat)
            elif name in ("qualified", "queued", "released", "revenue"):
                getattr(self, name).labels(campaign).inc(amount)
            elif kind in ("suppressed", "conversions", "best_time") and detail:
                getattr(self, kind).labels(campaign, detail).inc(amount)
            else:
                self._unknown_stat(stat)

    def _unknown_stat(self, stat: str) -> None:
        # Counted after the batch is durable: a stat without a metric must not undo that.
        if stat not in self._unknown:
            self._unknown.add(stat)
            log.warning("campaign stat %r has no metric; not exported", stat)

    def committed(self, counts: dict[tuple[str, str], float], items: int, seconds: float) -> None:
        """A batch of `items` inputs was applied and made durable in `seconds`."""
        self.batch_seconds.observe(seconds)
        self.batch_items.inc(items)
        self.counted(counts)

    def timer_fired(self, clock, due: int) -> None:
        """A wait due at `due` (epoch ms) was taken up now."""
        if not clock.settable:  # lateness means nothing on a clock the tests move
            self.wait_lateness.observe(max(0.0, time.time() - due / 1000))

    def push_answered(self, outcome: str, service: str, latency: float | None = None,
                      decided_ms: int | None = None, now_ms: int | None = None) -> None:
        """One subscription's final answer (`latency`: seconds from the first attempt);
        `decided_ms`/`now_ms` give the time from the decision, when both are known."""
        self.sends.labels(outcome, service).inc()
        if latency is not None:
            self.send_seconds.labels(outcome).observe(latency)
        if decided_ms is not None and now_ms is not None:
            self.trigger_to_send.observe(max(0, now_ms - decided_ms) / 1000)

    def processing_error(self) -> None:
        self.processing_errors.inc()

    def reloaded(self, ok: bool, campaigns: int | None = None) -> None:
        self.reload_ok.set(1 if ok else 0)
        if ok:
            self.reload_time.set(time.time())
            self.campaigns_loaded.set(campaigns or 0)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def embedded_metrics(registry: CollectorRegistry | None = None) -> Metrics:
    """The metrics `pushcast run` serves on `/metrics`."""
    return Metrics(EMBEDDED, registry)


def gateway_metrics(registry: CollectorRegistry | None = None) -> Metrics:
    """The metrics `pushcast gateway` serves: its HTTP edge and its campaign reloads (the
    campaign counters are the workers')."""
    return Metrics(GATEWAY, registry)


def worker_metrics(registry: CollectorRegistry | None = None) -> Metrics:
    """The metrics a Kafka worker serves on its metrics port."""
    return Metrics(WORKER, registry)
