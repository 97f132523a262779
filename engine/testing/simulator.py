"""A simulated clock that drives the core like a runtime would: events in time order,
wake-ups when due, delivery reports fed back. Used by `pushcast test` and backtests."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from engine.core import CampaignSet, Event, Notify, UserState, Wake
from engine.core.schedule import run_times
from engine.shell.inputs import ScheduledRun, WakeUp
from engine.shell.step import apply, counts, message_stats
from engine.shell.engagement import assess, same as engagement_same
from engine.shell.winners import judge, with_judgements
from engine.shell.timers import Timers


@dataclass
class Simulation:
    campaigns: CampaignSet
    started: int = 0  # epoch ms: scheduled runs from here on
    states: dict[str, UserState] = field(default_factory=dict)
    effects: list = field(default_factory=list)
    timers: Timers = field(default_factory=Timers)
    # While a runtime catches up after downtime, what it decides as of an earlier time
    # (a wait due while it was down, held by quiet hours that ended meanwhile) can only
    # be sent now: this is when.
    sending_from: int | None = None
    # The campaign stats the runtimes would count, for the A/B winner rules, and the
    # winners decided and engagement guard verdicts judged from them (whenever the clock
    # reaches a new time).
    stats: dict[str, dict[str, float]] = field(default_factory=dict)
    winners: dict = field(default_factory=dict)
    guard: dict = field(default_factory=dict)
    judged_at: int | None = None

    def __post_init__(self) -> None:
        self.campaigns = with_judgements(self.campaigns, self.winners, self.guard)  # never the caller's set

    def state(self, user: str) -> UserState:
        state = self.states.get(user)
        if state is None:
            state = self.states[user] = UserState(user)
        return state

    def run(self, events: list[tuple[int, Event]], until: int, down: list[tuple[int, int]] = (),
            reloads: list[tuple[int, CampaignSet]] = ()) -> None:
        """Process (process_at, event) pairs, sorted by process_at, and every wake-up
        due up to `until` (all epoch ms). `down`: (from, to) spans when the runtime is
        down, see `_come_back`; `reloads`: (at, campaigns) from then on, after what is
        due at that time (the same campaign files under another pushcast.yaml)."""
        runs = [
            (run_at, 1, (compiled, slot))
            for compiled in self.campaigns.by_id.values()
            for slot, run_at in run_times(compiled, self.started - 1, until)
        ]
        timeline = sorted([(at, 0, event) for at, event in events] + runs + [(at, 2, new) for at, new in reloads],
                          key=lambda item: item[:2])
        outages = sorted(d for d in down if d[0] < d[1])  # a restart (from == to) changes nothing
        missed: list = []
        for at, kind, item in timeline:
            if at > until:
                break
            while outages and at > outages[0][1]:
                self._come_back(*outages.pop(0), missed)
                missed = []
            if outages and at > outages[0][0]:
                missed.append((at, kind, item))
                continue
            self.advance(at)
            self.judge(at)
            if kind == 0:
                self._apply(apply(self.state(item.user), item, at, self.campaigns)[0])
            elif kind == 1:
                self.run_schedule(item[0], item[1], at)
            else:
                self.campaigns = with_judgements(item, self.winners, self.guard)
        if outages and outages[0][1] <= until:
            self._come_back(*outages.pop(0), missed)
        elif outages and outages[0][0] < until:
            self.advance(outages[0][0])  # still down at `until`: nothing after it went down
            return
        self.advance(until)

    def _come_back(self, went_down: int, back: int, missed: list) -> None:
        """What a runtime down after `went_down` does when it starts at `back`: what fell
        due by `went_down` was done before; every wait due since fires now, every run due
        since is made now (late, so the campaign's `late` rule decides), and then the
        events that waited for it (a producer's retry, or the Kafka topic) are applied."""
        self.advance(went_down)
        self.sending_from = back
        self.advance(back, now=back)
        for at, kind, item in missed:
            if kind == 1:
                self.run_schedule(item[0], item[1], at, now=back)
        for at, kind, item in missed:
            if kind == 0:
                self._apply(apply(self.state(item.user), item, back, self.campaigns)[0])
        self.sending_from = None

    def run_schedule(self, compiled, slot: str, at: int, now: int | None = None) -> None:
        """A scheduled run (due at `at`, made at `now`) replays every user state known then."""
        now = at if now is None else now
        for user in sorted(self.states):
            run = ScheduledRun(user, compiled.id, slot, at)
            self._apply(apply(self.states[user], run, now, self.campaigns)[0])

    def advance(self, until: int, now: int | None = None) -> None:
        """Fire every timer due at or before `until`, in time order, each at its due
        time or, for a runtime catching up, at `now`."""
        while (due := self.timers.next_due()) is not None and due <= until:
            for user, at in self.timers.pop_due(due):
                self._apply(apply(self.state(user), WakeUp(user, at), at if now is None else now, self.campaigns)[0])

    def judge(self, now: int) -> None:
        """Decide the winner rules and the engagement guard from the stats so far, as a
        runtime does periodically."""
        if now == self.judged_at:
            return
        self.judged_at = now
        stats_of = lambda campaign: self.stats.get(campaign, {})  # noqa: E731
        decided = judge(self.campaigns, self.winners, stats_of, now)
        guard = assess(self.campaigns.config.engagement, self.campaigns, stats_of, now, self.guard)
        if decided or not engagement_same(guard, self.guard):
            self.guard = guard
            self.campaigns = with_judgements(self.campaigns, self.winners, self.guard)

    def _count(self, campaign: str, stats: list[str], amount: float = 1) -> None:
        mine = self.stats.setdefault(campaign, {})
        for stat in stats:
            mine[stat] = mine.get(stat, 0) + amount

    def _apply(self, effects) -> None:
        for campaign, stat, amount in counts(effects):
            self._count(campaign, [stat], amount)
        for effect in effects.items:
            if isinstance(effect, Wake):
                self.timers.set(effect.user, effect.at)
                continue
            if isinstance(effect, Notify) and self.sending_from is not None and effect.at < self.sending_from:
                effect = replace(effect, at=self.sending_from)
            self.effects.append(effect)
            if isinstance(effect, Notify):
                self._count(effect.campaign, message_stats("sent", effect.variant, effect.test, effect.at))
                self._count(effect.campaign, message_stats("delivered", effect.variant, effect.test))
                # The sender reports each delivery back as a system event; assume success.
                report = Event(effect.user, "$notification_sent", effect.at,
                               {"message": effect.message_id, "campaign": effect.campaign})
                self._apply(apply(self.state(effect.user), report, effect.at, self.campaigns)[0])

    @property
    def notifications(self) -> list[Notify]:
        return [e for e in self.effects if isinstance(e, Notify)]
