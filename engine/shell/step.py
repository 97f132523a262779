"""The one step every runtime and `pushcast test` call: an input and a user's state in,
the core's effects (and a test send's reply) out; and the counters those effects move.

Written once so that the embedded runtime, the Kafka workers and the simulated clock
cannot decide differently. `now` is the time the input is applied: wake-ups fire every
wait due by then, scheduled runs are decided then (a run made late follows `late`).
"""

from __future__ import annotations

from typing import Iterator

from engine.core import (
    CampaignSet, Conversion, Effects, Event, Notify, Qualified, Queued, Released, Suppressed, UserState,
)
from engine.core.decisions import remember
from engine.core.process import process_event, process_wake
from engine.core.schedule import process_scheduled_run
from engine.core.send_test import test_send
from engine.shell.inputs import ScheduledRun, TestSend, WakeUp

Input = Event | WakeUp | ScheduledRun | TestSend


def apply(state: UserState, item: Input, now: int, campaigns: CampaignSet) -> tuple[Effects, dict | None]:
    """Apply one input to the user's state (changed in place): (effects, reply), where
    reply is a test send's result for its requester and None otherwise. The decisions
    about the user go to their decision log here, the one place every runtime passes."""
    effects, reply = _decide(state, item, now, campaigns)
    remember(state, effects, campaigns.config.decision_log)
    return effects, reply


def _decide(state: UserState, item: Input, now: int, campaigns: CampaignSet) -> tuple[Effects, dict | None]:
    if isinstance(item, Event):
        return process_event(state, item, campaigns), None
    if isinstance(item, WakeUp):
        return process_wake(state, now, campaigns), None
    if isinstance(item, ScheduledRun):
        # Waits due before the run fire first, as they would have on time.
        effects = process_wake(state, now, campaigns)
        compiled = campaigns.get(item.campaign)
        if compiled is not None:  # None: removed by a reload since the run began
            effects.items.extend(process_scheduled_run(state, compiled, item.slot, now, campaigns).items)
        return effects, None
    if isinstance(item, TestSend):
        return test_send(state, item, item.at, campaigns)
    raise TypeError(f"unknown input {item!r}")


def counts(effects: Effects) -> Iterator[tuple[str, str, float]]:
    """(campaign, stat, amount) for every decision counter the effects move: the keys of
    the campaign stats and of the metrics, in both runtimes. Sends are counted where the
    runtime queues them (`sent_stat`), since a store may refuse a duplicate."""
    for effect in effects.items:
        if isinstance(effect, Qualified):
            yield effect.campaign, "qualified", 1
        elif isinstance(effect, Suppressed):
            yield effect.campaign, f"suppressed.{effect.reason}", 1
        elif isinstance(effect, Queued):
            if effect.at == effect.since:  # held again after a release: still one message
                yield effect.campaign, "queued", 1
        elif isinstance(effect, Released):
            yield effect.campaign, "released", 1
        elif isinstance(effect, Conversion):
            yield effect.campaign, f"conversions.{effect.kind}", 1
            if effect.revenue:
                yield effect.campaign, "revenue", effect.revenue


def sent_stat(notify: Notify) -> str:
    """The stat a queued message moves: test sends are counted apart."""
    return "test.sent" if notify.test else "sent"
