"""The gateway's /metrics: the HTTP edge's series, by the names engine/shell/metrics.py
declares for the embedded runtime (the same dashboard panels read both), and the
campaign reload gauges. Campaign counters are the workers' (their /metrics)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from engine.shell.metrics import SPECS

GATEWAY_METRICS = frozenset({"events_accepted", "events_rejected", "http_requests", "rate_limited",
                             "reload_ok", "reload_time", "campaigns_loaded"})


class GatewayMetrics:
    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry if registry is not None else CollectorRegistry()
        for spec in SPECS:
            if spec.attr in GATEWAY_METRICS:
                setattr(self, spec.attr, spec.build(self.registry))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
