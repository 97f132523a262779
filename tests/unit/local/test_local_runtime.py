"""The embedded runtime's writer: batches through the core, one transaction each, exact
counters, de-duplicated sends and reports, timers that survive a restart."""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest

from engine.core import Event
from engine.shell.clock import ManualClock, SystemClock
from engine.local.outbox import OutboxSender
from engine.local.runtime import Prune, SendDone
from engine.local.store import DEDUPE_HORIZON_MS
from engine.shell.tracking import check_signature
from engine.shell.inputs import Report
from tests.unit.core_helpers import MIN, T0
from tests.unit.local_helpers import CART, without_series, SECRET, Running, ScriptedSender, cart, make_runtime, subscribe


async def test_a_wait_fires_when_the_clock_reaches_it_and_queues_one_send(tmp_path):
    runtime = make_runtime(tmp_path)
    running = Running(runtime)
    try:
        await runtime.submit([subscribe("u1"), cart("u1")])
        assert runtime.timers.next_due() == T0 + 10 * MIN
        runtime.clock.set(T0 + 10 * MIN - 1)
        assert await runtime.fire_due() == 0
        assert runtime.store.pending_count() == 0
        runtime.clock.set(T0 + 10 * MIN)
        assert await runtime.fire_due() == 1
        [row] = runtime.store.pending(10)
        payload = orjson.loads(row.payload)
        assert payload["title"] == "Still thinking about Shoes?"
        assert payload["user"] == "u1" and check_signature(SECRET, row.message_id, "cart", "u1", payload["sig"])
        assert without_series(runtime.store.stats("cart")["cart"]) == {"qualified": 1, "sent": 1}
    finally:
        await running.stop()


async def test_waits_and_states_survive_a_restart(tmp_path):
    first = make_runtime(tmp_path)
    running = Running(first)
    await first.submit([subscribe("u1"), cart("u1")])
    await running.stop()  # no shutdown code of the runtime itself: only what was committed

    second = make_runtime(tmp_path, clock=ManualClock(T0 + 11 * MIN))
    running = Running(second)
    try:
        assert second.timers.next_due() == T0 + 10 * MIN
        assert await second.fire_due() == 1
        assert second.store.pending_count() == 1
    finally:
        await running.stop()


async def test_a_replayed_event_queues_and_counts_nothing_twice(tmp_path):
    runtime = make_runtime(tmp_path, clock=ManualClock(T0 + 11 * MIN))
    running = Running(runtime)
    try:
        # The same cart event applied twice (an events file replayed after a crash).
        for _ in range(2):
            await runtime.submit([subscribe("u1"), cart("u1"), Event("u1", "Product Viewed", T0 + 11 * MIN, {})])
        assert runtime.store.pending_count() == 1
        assert runtime.store.stats("cart")["cart"]["sent"] == 1
    finally:
        await running.stop()


async def test_a_failed_commit_leaves_neither_disk_nor_memory_changed(tmp_path, monkeypatch):
    runtime = make_runtime(tmp_path)
    running = Running(runtime)
    try:
        from engine.local.store import Batch

        def broken(self):
            raise OSError("disk full")

        monkeypatch.setattr(Batch, "flush_counts", broken)
        with pytest.raises(OSError):
            await runtime.submit([subscribe("u1"), cart("u1")])
        assert runtime.store.load_state("u1") is None
        assert "u1" not in runtime.states and len(runtime.timers) == 0
        monkeypatch.undo()
        await runtime.submit([subscribe("u1"), cart("u1")])  # a retry applies it once
        assert len(runtime.timers) == 1
    finally:
        await running.stop()


async def test_one_failing_item_does_not_spoil_its_batch(tmp_path, monkeypatch):
    runtime = make_runtime(tmp_path)
    running = Running(runtime)
    try:
        import engine.local.runtime as module

        real = module.apply

        def flaky(state, item, now, campaigns):
            if state.user == "boom":
                raise RuntimeError("a bug")
            return real(state, item, now, campaigns)

        monkeypatch.setattr(module, "apply", flaky)
        await runtime.submit([cart("boom"), subscribe("u1"), cart("u1")])
        assert runtime.store.load_state("u1") is not None
        assert len(runtime.timers) == 1
    finally:
        await running.stop()


async def test_send_results_are_counted_once_and_feed_back_to_the_core(tmp_path):
    runtime = make_runtime(tmp_path, clock=ManualClock(T0 + 11 * MIN))
    running = Running(runtime)
    sender = ScriptedSender("unsubscribed")
    outbox = OutboxSender(runtime, sender)
    task = asyncio.create_task(outbox.run())
    try:
        await runtime.submit([subscribe("u1"), cart("u1"), Event("u1", "Ping", T0 + 11 * MIN, {})])
        for _ in range(100):
            if runtime.store.pending_count() == 0 and sender.sent:
                break
            await asyncio.sleep(0.01)
        await runtime.barrier()
        stats = runtime.store.stats("cart")["cart"]
        assert (stats["sent"], stats["failed"], stats["unsubscribed"]) == (1, 1, 1)
        assert "delivered" not in stats
        # The 410 removed the subscription from the user's state.
        assert runtime.user_state("u1").subscriptions == {}
        [row] = [r for r in runtime.store.db.execute("SELECT seq, outcome FROM outbox")]
        # A result seen twice (a retried submit) counts nothing more.
        from engine.local.store import OutboxRow

        fake = OutboxRow(row[0], sender.sent[0].message_id, "e", "u1", "cart", "", "", b"{}", 1, "normal", False, 0)
        await runtime.submit([SendDone(fake, "failed", [])])
        assert runtime.store.stats("cart")["cart"]["failed"] == 1
    finally:
        task.cancel()
        await outbox.close()
        await running.stop()


async def test_reports_count_once_per_message_and_take_the_campaign_from_the_outbox(tmp_path):
    runtime = make_runtime(tmp_path, clock=ManualClock(T0 + 11 * MIN))
    running = Running(runtime)
    try:
        await runtime.submit([subscribe("u1"), cart("u1"), Event("u1", "Ping", T0 + 11 * MIN, {})])
        [row] = runtime.store.pending(10)
        # The report names another campaign: the stored one is counted, not the claim.
        report = Report(row.message_id, "clicked", "someone-elses", "u1")
        await runtime.submit([report, report])
        stats = runtime.store.stats()
        assert stats["cart"]["clicked"] == 1 and "someone-elses" not in stats
        # The SDK may leave out user and campaign: the outbox knows them.
        await runtime.submit([Report(row.message_id, "shown", "", "")])
        assert runtime.store.stats("cart")["cart"]["shown"] == 1
        # An unknown message counts nowhere, whatever campaign it names.
        replies = await runtime.submit([Report("forgotten-message", "shown", "cart", "u1")])
        assert replies == [{"report": "forgotten-message", "outcome": "unknown"}]
        assert runtime.store.stats("cart")["cart"]["shown"] == 1
        runtime.clock.set(T0 + 20 * MIN)
        await runtime.submit([Event("u1", "Charged", T0 + 20 * MIN, {"cart_id": "c1", "amount": 30})])
        stats = runtime.store.stats("cart")["cart"]
        assert stats["conversions.click"] == 1 and stats["revenue"] == 30
    finally:
        await running.stop()


async def test_a_timer_fires_within_100_ms_of_its_due_time_on_the_real_clock(tmp_path):
    quick = CART.replace("within: 10m", "within: 1s")
    runtime = make_runtime(tmp_path, quick, clock=SystemClock())
    running = Running(runtime, timers=True)
    try:
        now = int(time.time() * 1000)
        await runtime.submit([subscribe("u1", now), cart("u1", at=now)])
        due = now + 1000
        while runtime.store.pending_count() == 0:
            assert time.time() * 1000 < due + 1000, "the timer did not fire"
            await asyncio.sleep(0.002)
        late = time.time() * 1000 - due
        assert 0 <= late < 100
    finally:
        await running.stop()


async def test_a_report_for_a_pruned_message_is_refused_and_counts_nowhere(tmp_path):
    runtime = make_runtime(tmp_path, clock=ManualClock(T0 + 11 * MIN))
    running = Running(runtime)
    try:
        await runtime.submit([subscribe("u1"), cart("u1"), Event("u1", "Ping", T0 + 11 * MIN, {})])
        [row] = runtime.store.pending(10)
        await runtime.submit([SendDone(row, "sent", [])])
        await runtime.submit([Prune(T0 + 11 * MIN + DEDUPE_HORIZON_MS + 1)])
        assert runtime.store.message(row.message_id) is None
        # The report names the message's own campaign and user, as a replay would.
        replies = await runtime.submit([Report(row.message_id, "clicked", "cart", "u1")])
        assert replies == [{"report": row.message_id, "outcome": "unknown"}]
        assert "clicked" not in runtime.store.stats("cart")["cart"]
        assert all(not s.clicked for s in runtime.user_state("u1").sent)
    finally:
        await running.stop()


async def test_test_profiles_are_counted_apart(tmp_path):
    runtime = make_runtime(tmp_path, clock=ManualClock(T0 + 11 * MIN))
    running = Running(runtime)
    try:
        await runtime.submit([Event("qa", "$profile", T0, {"test": True}), subscribe("qa"), cart("qa"),
                              subscribe("u1"), cart("u1"), Event("u1", "Ping", T0 + 11 * MIN, {}),
                              Event("qa", "Ping", T0 + 11 * MIN, {})])
        stats = runtime.store.stats("cart")["cart"]
        assert stats["sent"] == 1 and stats["test.sent"] == 1
        assert sorted((r.user, r.test) for r in runtime.store.pending(10)) == [("qa", True), ("u1", False)]
    finally:
        await running.stop()


async def test_a_stop_lets_sends_in_flight_finish_and_commits_them(tmp_path):
    runtime = make_runtime(tmp_path, clock=ManualClock(T0 + 11 * MIN))
    running = Running(runtime)

    class SlowSender(ScriptedSender):
        async def send(self, message):
            await asyncio.sleep(0.2)
            return await super().send(message)

    outbox = OutboxSender(runtime, SlowSender())
    task = asyncio.create_task(outbox.run())
    try:
        await runtime.submit([subscribe("u1"), cart("u1"), Event("u1", "Ping", T0 + 11 * MIN, {})])
        while not outbox._in_flight:
            await asyncio.sleep(0.005)
        task.cancel()
        await outbox.close(grace=5)
        assert runtime.store.pending_count() == 0
        assert runtime.store.stats("cart")["cart"]["delivered"] == 1
    finally:
        await running.stop()

