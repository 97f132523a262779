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
from engine.core.best_time import BEST_TIME_HOWS
from engine.core.effects import Decision
from engine.core.decisions import remember
from engine.core.process import process_event, process_wake
from engine.core.schedule import process_scheduled_run
from engine.core.send_test import test_send
from engine.shell.inputs import ScheduledRun, TestSend, WakeUp
from engine.shell.series import with_series

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
    runtime queues them (`message_stats`), since a store may refuse a duplicate."""
    for effect in effects.items:
        if isinstance(effect, Qualified):
            yield effect.campaign, "qualified", 1
            if effect.variant is not None:
                yield effect.campaign, arm_stat(effect.variant, effect.control, "qualified"), 1
        elif isinstance(effect, Suppressed):
            yield effect.campaign, f"suppressed.{effect.reason}", 1
            if effect.reason == "control" and effect.variant is not None:
                yield effect.campaign, arm_stat(effect.variant, True, "held_out"), 1
        elif isinstance(effect, Queued):
            if effect.at == effect.since:  # held again after a release: still one message
                yield effect.campaign, "queued", 1
        elif isinstance(effect, Released):
            yield effect.campaign, "released", 1
        elif isinstance(effect, Decision) and effect.reason in BEST_TIME_HOWS:
            yield effect.campaign, f"best_time.{effect.reason}", 1  # when.best_time chose the send time
        elif isinstance(effect, Conversion):
            if effect.kind != "control":  # a holdout user's conversion is the control's only
                yield effect.campaign, f"conversions.{effect.kind}", 1
                if effect.revenue:
                    yield effect.campaign, "revenue", effect.revenue
            if effect.variant is not None:
                control = effect.kind == "control"
                yield effect.campaign, arm_stat(effect.variant, control, "conversions"), 1
                if effect.revenue:
                    yield effect.campaign, arm_stat(effect.variant, control, "revenue"), effect.revenue


def variant_stat(variant: str, stat: str) -> str:
    """A variant's own counter, stored next to the campaign's: `variant.<name>.<stat>`
    (qualified, sent, delivered, shown, clicked, conversions, revenue)."""
    return f"variant.{variant}.{stat}"


def arm_stat(name: str, control: bool, stat: str) -> str:
    """A variant's counter, or the control's: `control.<name>.<stat>` (qualified,
    held_out: reached the send and was held back, conversions, revenue)."""
    return f"control.{name}.{stat}" if control else variant_stat(name, stat)


def message_stats(stat: str, variant: str | None, test: bool, at_ms: int | None = None) -> list[str]:
    """The stats one event in a message's life moves (sent, delivered, failed,
    unsubscribed, shown, clicked): the campaign's (with its hour and day buckets when
    `at_ms` is given), and its variant's (not for test sends)."""
    if test:
        return [f"test.{stat}"]
    moved = [stat] if at_ms is None else list(with_series(stat, at_ms))
    if variant is not None and stat in VARIANT_MESSAGE_STATS:
        moved.append(variant_stat(variant, stat))
    return moved


VARIANT_MESSAGE_STATS = ("sent", "delivered", "shown", "clicked")
