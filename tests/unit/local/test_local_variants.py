"""A/B variants in the embedded runtime: per-variant counts through the outbox and
reports, and the winner judged from the store, kept durably and handed to the core."""

from engine.core import Event
from engine.core.variants import PIN_PROPERTY
from engine.local.winners import WinnerJudge
from engine.shell.clock import ManualClock
from engine.shell.inputs import Report
from engine.local.runtime import SendDone
from engine.shell.tracking import check_signature
from tests.unit.core_helpers import MIN, T0
from tests.unit.local_helpers import SECRET, Running, make_runtime, subscribe

AB = """
campaign: ab
who: {on: {event: Viewed}}
what:
  title: hi
  variants: [{name: a}, {name: b, title: ho}]
  winner: {metric: clicks, min_sends: 2, probability: 0.9}
"""


def pin(user: str, variant: str) -> Event:
    return Event(user, "$profile", T0, {PIN_PROPERTY: {"ab": variant}})


async def test_variant_stats_count_sends_deliveries_and_reports_and_the_winner_survives_restarts(tmp_path):
    import orjson

    runtime = make_runtime(tmp_path, AB, clock=ManualClock(T0 + MIN))
    running = Running(runtime)
    judge = WinnerJudge(runtime)
    try:
        users = [("a1", "a"), ("a2", "a"), ("b1", "b"), ("b2", "b")]
        await runtime.submit([e for user, arm in users for e in (subscribe(user), pin(user, arm))])
        await runtime.submit([Event(user, "Viewed", T0 + MIN, {}) for user, _ in users])
        rows = runtime.store.pending(10)
        payloads = {row.user: orjson.loads(row.payload) for row in rows}
        assert {user: p["variant"] for user, p in payloads.items()} == dict(users)
        b1 = payloads["b1"]  # the service worker's report can be checked with its variant
        assert check_signature(SECRET, b1["message"], "ab", "b1", b1["sig"], "b")
        await runtime.submit([SendDone(row, "sent", []) for row in rows])
        assert await judge.judge_now() == []  # 2 sends each, no clicks: no clear best
        await runtime.submit([Report(payloads[user]["message"], "clicked", "ab", user) for user in ("b1", "b2")])
        stats = runtime.store.stats("ab")["ab"]
        assert stats["variant.a.sent"] == stats["variant.b.delivered"] == 2
        assert stats["variant.b.clicked"] == 2 and "variant.a.clicked" not in stats
        [decision] = await judge.judge_now()
        assert decision.variant == "b" and runtime.campaigns.winners == {"ab": "b"}
        await runtime.submit([subscribe("late"), Event("late", "Viewed", T0 + MIN, {})])
        late = [r for r in runtime.store.pending(20) if r.user == "late"]
        assert orjson.loads(late[0].payload)["variant"] == "b"
    finally:
        await running.stop()
    reopened = make_runtime(tmp_path, AB)
    try:
        again = WinnerJudge(reopened)
        assert again.decided["ab"] == decision and reopened.campaigns.winners == {"ab": "b"}
        assert again.decision("ab")["figures"]["b"]["successes"] == 2
    finally:
        reopened.store.close()
