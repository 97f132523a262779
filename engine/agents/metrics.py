"""Prometheus metrics of a Kafka worker, on a registry of its own (injectable for tests).

Names follow Prometheus conventions: `_total` counters, `_seconds` histograms, campaign
and reason as labels, never a user id.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30)
LATENESS_BUCKETS = (.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 30, 300)


class WorkerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = r = registry if registry is not None else CollectorRegistry()
        self.events = Counter("pushcast_events_consumed_total",
                              "Records applied by the user agent, by type (user, system, wake, run, test)",
                              ["type"], registry=r)
        self.replayed = Counter("pushcast_events_replayed_total",
                                "Redelivered records skipped because the state already had them", registry=r)
        self.records_skipped = Counter("pushcast_records_skipped_total",
                                       "Records not applied on delivery: redelivered, after a hole "
                                       "(read again) or of a revoked partition, by topic",
                                       ["topic"], registry=r)
        self.dead_letters = Counter("pushcast_dead_letters_total",
                                    "Records sent to the dead-letter topic, by topic and field",
                                    ["topic", "field"], registry=r)
        self.qualified = Counter("pushcast_triggers_qualified_total", "Users who qualified for a campaign",
                                 ["campaign"], registry=r)
        self.suppressed = Counter("pushcast_triggers_suppressed_total", "Qualified messages not sent",
                                  ["campaign", "reason"], registry=r)
        self.notifications = Counter("pushcast_notifications_total", "Messages decided (to the sends topic)",
                                     ["campaign"], registry=r)
        self.test_sends = Counter("pushcast_test_sends_total", "Test sends decided (to the sends topic), "
                                  "apart from pushcast_notifications_total", ["campaign"], registry=r)
        self.conversions = Counter("pushcast_conversions_total", "Conversions attributed",
                                   ["campaign", "kind"], registry=r)
        self.sends = Counter("pushcast_sends_total", "Deliveries to one subscription, by result and push service",
                             ["result", "service"], registry=r)
        self.send_duplicates = Counter("pushcast_sends_deduplicated_total",
                                       "Deliveries skipped because another attempt already claimed or made them",
                                       registry=r)
        self.send_seconds = Histogram("pushcast_send_duration_seconds",
                                      "Time from the first attempt to a push service's final answer",
                                      ["result"], buckets=LATENCY_BUCKETS, registry=r)
        self.trigger_to_send = Histogram("pushcast_trigger_to_send_seconds",
                                         "From the decision (Notify.at) to the push service's answer",
                                         buckets=LATENCY_BUCKETS, registry=r)
        self.waits_pending = Gauge("pushcast_waits_pending", "Users with a pending wait on this worker's partitions",
                                   registry=r)
        self.wait_lateness = Histogram("pushcast_wait_lateness_seconds", "How late a due wait was fired",
                                       buckets=LATENESS_BUCKETS, registry=r)
        self.wakes_fired = Counter("pushcast_wakes_fired_total", "Wake-up records produced", registry=r)
        self.scheduled_runs = Counter("pushcast_scheduled_runs_total", "Scheduled campaign runs started",
                                      ["campaign"], registry=r)
        self.batch_seconds = Histogram("pushcast_batch_duration_seconds", "Time to apply one batch of records",
                                       buckets=LATENCY_BUCKETS, registry=r)
        self.reload_ok = Gauge("pushcast_config_last_reload_successful",
                               "1 when the last campaign reload succeeded", registry=r)
        self.reload_time = Gauge("pushcast_config_last_reload_success_timestamp_seconds",
                                 "When the campaigns were last loaded successfully", registry=r)
        self.campaigns_loaded = Gauge("pushcast_campaigns_loaded", "Campaigns running", registry=r)

    def counted(self, counts: dict[tuple[str, str], float]) -> None:
        """Count what a batch decided, keyed as the campaign stats are."""
        for (campaign, stat), amount in counts.items():
            if stat == "qualified":
                self.qualified.labels(campaign).inc(amount)
            elif stat.startswith("suppressed."):
                self.suppressed.labels(campaign, stat[11:]).inc(amount)
            elif stat == "sent":
                self.notifications.labels(campaign).inc(amount)
            elif stat == "test.sent":
                self.test_sends.labels(campaign).inc(amount)
            elif stat.startswith("conversions."):
                self.conversions.labels(campaign, stat[12:]).inc(amount)
