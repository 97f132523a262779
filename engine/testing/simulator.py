"""A simulated clock that drives the core like a runtime would: events in time order,
wake-ups when due, delivery reports fed back. Used by `pushcast test` and backtests."""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from engine.core import CampaignSet, Event, Notify, UserState, Wake, process_event, process_wake
from engine.core.schedule import process_scheduled_run, run_times


@dataclass
class Simulation:
    campaigns: CampaignSet
    started: int = 0  # epoch ms: scheduled runs from here on
    states: dict[str, UserState] = field(default_factory=dict)
    effects: list = field(default_factory=list)
    _timers: list[tuple[int, str]] = field(default_factory=list)
    _due: dict[str, int] = field(default_factory=dict)

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
                self._apply(process_event(self.state(item.user), item, self.campaigns))
            else:
                self.run_schedule(item[0], item[1], at)
        self.advance(until)

    def run_schedule(self, compiled, slot: str, now: int) -> None:
        """A scheduled run replays every user state known at that time."""
        for user in sorted(self.states):
            self._apply(process_scheduled_run(self.states[user], compiled, slot, now, self.campaigns))

    def advance(self, until: int) -> None:
        """Fire every timer due at or before `until`, in time order."""
        while self._timers and self._timers[0][0] <= until:
            due, user = heapq.heappop(self._timers)
            if self._due.get(user) != due:
                continue  # superseded by a later Wake for this user
            del self._due[user]
            self._apply(process_wake(self.state(user), due, self.campaigns))

    def _apply(self, effects) -> None:
        for effect in effects.items:
            if isinstance(effect, Wake):
                self._due[effect.user] = effect.at
                heapq.heappush(self._timers, (effect.at, effect.user))
                continue
            self.effects.append(effect)
            if isinstance(effect, Notify):
                # The sender reports each delivery back as a system event; assume success.
                report = Event(effect.user, "$notification_sent", effect.at,
                               {"message": effect.message_id, "campaign": effect.campaign})
                self._apply(process_event(self.state(effect.user), report, self.campaigns))

    @property
    def notifications(self) -> list[Notify]:
        return [e for e in self.effects if isinstance(e, Notify)]
