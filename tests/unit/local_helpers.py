"""Builders for embedded-runtime tests: a runtime on a temporary store and a manual
clock, a sender that answers from a script, and the abandoned-cart campaign."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from connectors.push import SendResult
from engine.local.api import EmbeddedApi
from engine.core import Event
from engine.shell.clock import ManualClock
from engine.shell.series import is_series
from engine.local.runtime import Runtime
from engine.local.store import Store
from tests.unit.core_helpers import SUBSCRIPTION, T0, campaigns

CART = """
campaign: cart
who:
  on: {event: Added To Cart}
  unless: {event: Charged, within: 10m, match: [cart_id]}
what:
  title: "Still thinking about {{ event.product | default: 'your cart' }}?"
  url: "https://shop.example/cart/{{ event.cart_id }}"
conversion: {event: Charged, within: 1d, revenue: amount}
"""
SECRET = b"unit-test-secret"


class ScriptedSender:
    """Answers every message with `outcome` (sent | failed | unsubscribed)."""

    def __init__(self, outcome: str = "sent"):
        self.outcome = outcome
        self.sent = []

    async def send(self, message):
        self.sent.append(message)
        status = {"sent": 201, "unsubscribed": 410, "failed": 400}[self.outcome]
        return SendResult(message, self.outcome, status, "" if self.outcome == "sent" else "scripted", 1, 0.001)


def make_runtime(path: Path, *texts: str, clock=None, metrics=None) -> Runtime:
    store = Store.open_dir(path, synchronous="NORMAL")
    return Runtime(store, campaigns(*(texts or (CART,))), secret=SECRET, clock=clock or ManualClock(T0),
                   metrics=metrics)


def subscribe(user: str, at: int = T0) -> Event:
    return Event(user, "$push_subscribe", at, SUBSCRIPTION)


def cart(user: str, cart_id: str = "c1", at: int = T0, **props) -> Event:
    return Event(user, "Added To Cart", at, {"cart_id": cart_id, "product": "Shoes", **props})


class Running:
    """The runtime's writer running in the background for the test's duration."""

    def __init__(self, runtime: Runtime, timers: bool = False):
        self.runtime = runtime
        self.tasks = [asyncio.create_task(runtime.run_writer())]
        if timers:
            self.tasks.append(asyncio.create_task(runtime.run_timers()))

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.runtime.store.close()


ADMIN_TOKEN = "unit-admin-token-0123456789"


@contextlib.asynccontextmanager
async def admin_api(runtime: Runtime):
    """The runtime running behind its HTTP API: (client, admin auth headers)."""
    from aiohttp.test_utils import TestClient, TestServer
    from prometheus_client import CollectorRegistry

    from connectors.http import ApiContext, build_app
    from engine.shell.metrics import embedded_metrics
    from connectors.push import AllowList

    running = Running(runtime)
    ctx = ApiContext(EmbeddedApi(runtime), AllowList(), ADMIN_TOKEN, "BPUBLIC", (), embedded_metrics(CollectorRegistry()),
                     None, None)
    client = TestClient(TestServer(build_app(ctx)))
    await client.start_server()
    try:
        yield client, {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    finally:
        await client.close()
        await running.stop()


def watch(runtime: Runtime, folder, *, config_path=None, metrics=None, interval: float = 1.0):
    """The reloader of a `pushcast run` over `folder`, wired to this runtime as serve() does."""
    from engine.shell.reload import CampaignReloader

    reloader = CampaignReloader([folder], config_path, runtime.campaigns, metrics=metrics, interval=interval)
    reloader.on_change(lambda new: setattr(runtime, "campaigns", new))
    return reloader


def without_series(stats: dict) -> dict:
    """Stored stats without the chart's hour/day buckets (engine/shell/series.py)."""
    return {k: v for k, v in stats.items() if not is_series(k)}
