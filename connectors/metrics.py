"""Prometheus metrics of the runtime, on a registry of its own (injectable for tests).

Counters follow the exact per-campaign stats in the store but are process-local, as
Prometheus expects (they restart from zero; `rate()` copes). Campaign is a label; a user
id never is.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import CONTENT_TYPE_LATEST  # noqa: F401  (re-exported for the HTTP layer)

# stats metric name -> (counter attribute, extra label)
_CAMPAIGN_COUNTERS = {
    "qualified": "qualified", "sent": "sent", "delivered": "delivered", "failed": "failed",
    "unsubscribed": "unsubscribed", "shown": "shown", "clicked": "clicked",
}


class RuntimeMetrics:
    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.events = Counter("pushcast_events_total", "Events accepted, by source", ["source"], registry=r)
        self.events_rejected = Counter("pushcast_events_rejected_total",
                                       "Events refused as malformed, by source", ["source"], registry=r)
        self.processing_errors = Counter("pushcast_processing_errors_total",
                                         "Work items that raised while being applied (a bug; logged)", registry=r)
        self.qualified = Counter("pushcast_campaign_qualified_total", "Users who qualified", ["campaign"], registry=r)
        self.suppressed = Counter("pushcast_campaign_suppressed_total", "Qualified messages not sent",
                                  ["campaign", "reason"], registry=r)
        self.sent = Counter("pushcast_notifications_sent_total", "Messages queued for sending",
                            ["campaign", "test"], registry=r)
        self.delivered = Counter("pushcast_notifications_delivered_total",
                                 "Subscriptions whose push service accepted the message", ["campaign", "test"], registry=r)
        self.failed = Counter("pushcast_notifications_failed_total", "Subscriptions the message could not reach",
                              ["campaign", "test"], registry=r)
        self.unsubscribed = Counter("pushcast_subscriptions_expired_total",
                                    "Subscriptions removed after a 404/410", ["campaign", "test"], registry=r)
        self.shown = Counter("pushcast_notifications_shown_total", "Messages reported shown", ["campaign", "test"],
                             registry=r)
        self.clicked = Counter("pushcast_notifications_clicked_total", "Messages reported clicked",
                               ["campaign", "test"], registry=r)
        self.conversions = Counter("pushcast_conversions_total", "Conversions attributed", ["campaign", "kind"],
                                   registry=r)
        self.revenue = Counter("pushcast_revenue_total", "Revenue of attributed conversions", ["campaign"], registry=r)
        self.batch_seconds = Histogram("pushcast_batch_commit_seconds", "Time to apply and commit one batch",
                                       buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5), registry=r)
        self.batch_items = Counter("pushcast_batch_items_total", "Work items committed", registry=r)
        self.timer_lateness = Histogram("pushcast_timer_lateness_seconds", "How late a due timer was taken up",
                                        buckets=(.001, .005, .01, .025, .05, .1, .25, .5, 1, 5), registry=r)
        self.push_seconds = Histogram("pushcast_push_send_seconds", "Time to a push service's final answer",
                                      ["outcome"], registry=r)
        self.reload_ok = Gauge("pushcast_config_last_reload_successful",
                               "1 when the last campaign reload succeeded", registry=r)
        self.reload_time = Gauge("pushcast_config_last_reload_success_timestamp_seconds",
                                 "When the campaigns were last loaded successfully", registry=r)
        self.campaigns_loaded = Gauge("pushcast_campaigns_loaded", "Campaigns running", registry=r)
        self.outbox_pending = Gauge("pushcast_outbox_pending", "Sends queued and not yet answered", registry=r)
        self.timers_pending = Gauge("pushcast_timers_pending", "Users with a pending wait", registry=r)
        self.http_requests = Counter("pushcast_http_requests_total", "HTTP requests", ["route", "status"],
                                     registry=r)
        self.rate_limited = Counter("pushcast_http_rate_limited_total", "Browser requests refused by the rate limit",
                                    registry=r)

    def committed(self, counts: dict[tuple[str, str], float], items: int, seconds: float) -> None:
        """Count what a committed batch counted in the store."""
        self.batch_seconds.observe(seconds)
        self.batch_items.inc(items)
        for (campaign, metric), amount in counts.items():
            test = "false"
            if metric.startswith("test."):
                test, metric = "true", metric[5:]
            if metric == "qualified":
                self.qualified.labels(campaign).inc(amount)
            elif metric.startswith("suppressed."):
                self.suppressed.labels(campaign, metric[11:]).inc(amount)
            elif metric.startswith("conversions."):
                self.conversions.labels(campaign, metric[12:]).inc(amount)
            elif metric == "revenue":
                self.revenue.labels(campaign).inc(amount)
            elif metric in _CAMPAIGN_COUNTERS:
                getattr(self, _CAMPAIGN_COUNTERS[metric]).labels(campaign, test).inc(amount)

    def timer_fired(self, clock, due: int) -> None:
        if not clock.settable:  # lateness means nothing on a clock the tests move
            self.timer_lateness.observe(max(0.0, time.time() - due / 1000))

    def processing_error(self) -> None:
        self.processing_errors.inc()

    def push_sent(self, campaign: str, outcome: str, latency: float) -> None:
        self.push_seconds.labels(outcome).observe(latency)

    def reloaded(self, ok: bool, campaigns: int | None = None) -> None:
        self.reload_ok.set(1 if ok else 0)
        if ok:
            self.reload_time.set(time.time())
            self.campaigns_loaded.set(campaigns or 0)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
