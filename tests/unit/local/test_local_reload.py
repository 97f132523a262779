"""Campaign reload keeps the last good set, exports its outcome, and keeps waits."""

from __future__ import annotations

import asyncio
import logging

from prometheus_client import CollectorRegistry

from engine.shell.metrics import Metrics, embedded_metrics
from tests.unit.core_helpers import MIN, T0
from tests.unit.local_helpers import CART, Running, cart, make_runtime, subscribe, watch

PRICE = """
campaign: price
who: {on: {event: Price Dropped}}
what: {title: "Cheaper now"}
"""


def gauge(metrics: Metrics) -> float:
    return metrics.registry.get_sample_value("pushcast_config_last_reload_successful")


async def test_a_bad_folder_keeps_the_previous_set_and_a_fix_is_picked_up(tmp_path, caplog):
    folder = tmp_path / "campaigns.d"
    folder.mkdir()
    (folder / "cart.yaml").write_text(CART)
    metrics = embedded_metrics(CollectorRegistry())
    runtime = make_runtime(tmp_path / "state", CART, metrics=metrics)
    running = Running(runtime)
    watcher = watch(runtime, folder, metrics=metrics, interval=0.01)
    try:
        await runtime.submit([subscribe("u1"), cart("u1")])
        before = runtime.campaigns

        (folder / "price.yaml").write_text(PRICE.replace("title:", "titel:"))
        with caplog.at_level(logging.ERROR, "pushcast.reload"):
            assert watcher.reload() is False
        assert runtime.campaigns is before and gauge(metrics) == 0
        assert "price.yaml" in caplog.text and "titel" in caplog.text

        (folder / "price.yaml").write_text(PRICE)
        task = asyncio.create_task(watcher.run())  # the poll notices the change itself
        for _ in range(200):
            if "price" in runtime.campaigns.by_id:
                break
            await asyncio.sleep(0.01)
        task.cancel()
        assert set(runtime.campaigns.by_id) == {"cart", "price"} and gauge(metrics) == 1

        # The cart wait made under the old set fires under the new one.
        runtime.clock.set(T0 + 10 * MIN)
        assert await runtime.fire_due() == 1
        assert runtime.store.pending_count() == 1
    finally:
        await running.stop()


async def test_a_removed_campaign_sends_nothing_for_its_waits(tmp_path):
    folder = tmp_path / "campaigns.d"
    folder.mkdir()
    (folder / "price.yaml").write_text(PRICE)
    runtime = make_runtime(tmp_path / "state", CART)
    running = Running(runtime)
    try:
        await runtime.submit([subscribe("u1"), cart("u1")])
        assert watch(runtime, folder).reload() is True
        runtime.clock.set(T0 + 10 * MIN)
        await runtime.fire_due()
        assert runtime.store.pending_count() == 0
    finally:
        await running.stop()


async def test_a_slow_reload_finishing_last_does_not_undo_a_newer_one(tmp_path):
    folder = tmp_path / "campaigns.d"
    folder.mkdir()
    (folder / "cart.yaml").write_text(CART)
    runtime = make_runtime(tmp_path / "state", CART)
    running = Running(runtime)
    try:
        watcher = watch(runtime, folder)
        # The poller's thread reads the folder as it was...
        slow = watcher._load(watcher._next_generation())
        # ...then the folder changes and SIGHUP / the admin API reloads it at once.
        (folder / "price.yaml").write_text(PRICE)
        assert watcher.reload() is True
        assert set(runtime.campaigns.by_id) == {"cart", "price"}
        # The slow one lands last: it is older, so it changes nothing.
        watcher._apply(*slow, None)
        assert set(runtime.campaigns.by_id) == {"cart", "price"}
    finally:
        await running.stop()
