"""A simulated clock that drives the core like a runtime would: events in time order,
wake-ups when due, delivery reports fed back. Used by `pushcast test` and backtests."""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.core import CampaignSet, Event, Notify, UserState, Wake
from engine.core.schedule import run_times
from engine.shell.inputs import ScheduledRun, WakeUp
from engine.shell.step import apply
from engine.shell.timers import Timers


@dataclass
class Simulation:
    campaigns: CampaignSet
    started: int = 0  # epoch ms: scheduled runs from here on
    states: dict[str, UserState] = field(default_factory=dict)
    effects: list = field(default_factory=list)
    timers: Timers = field(default_factory=Timers)

    def state(self, user: str) -> UserState:
        state = self.states.get(user)
        if state is None:
            state = self.states[user] = UserState(user)
        return state

    def run(self, events: list[tuple[int, Event]], until: int) -> None:
        """Process (process_at, event) pairs, sorted by process_at, and every wake-up
        due up to `until` (all epoch ms)."""
        runs = [
            (run_at, 1, (compiled, slot))
            for compiled in self.campaigns.by_id.values()
            for slot, run_at in run_times(compiled, self.started - 1, until)
        ]
        timeline = sorted([(at, 0, event) for at, event in events] + runs, key=lambda item: item[:2])
        for at, kind, item in timeline:
            if at > until:
                break
            self.advance(at)
            if kind == 0:
                self._apply(apply(self.state(item.user), item, at, self.campaigns)[0])
            else:
                self.run_schedule(item[0], item[1], at)
        self.advance(until)

    def run_schedule(self, compiled, slot: str, now: int) -> None:
        """A scheduled run replays every user state known at that time."""
        for user in sorted(self.states):
            run = ScheduledRun(user, compiled.id, slot, now)
            self._apply(apply(self.states[user], run, now, self.campaigns)[0])

    def advance(self, until: int) -> None:
        """Fire every timer due at or before `until`, in time order."""
        while (due := self.timers.next_due()) is not None and due <= until:
            for user, at in self.timers.pop_due(due):
                self._apply(apply(self.state(user), WakeUp(user, at), at, self.campaigns)[0])

    def _apply(self, effects) -> None:
        for effect in effects.items:
            if isinstance(effect, Wake):
                self.timers.set(effect.user, effect.at)
                continue
            self.effects.append(effect)
            if isinstance(effect, Notify):
                # The sender reports each delivery back as a system event; assume success.
                report = Event(effect.user, "$notification_sent", effect.at,
                               {"message": effect.message_id, "campaign": effect.campaign})
                self._apply(apply(self.state(effect.user), report, effect.at, self.campaigns)[0])

    @property
    def notifications(self) -> list[Notify]:
        return [e for e in self.effects if isinstance(e, Notify)]
