"""The embedded runtime's judge: the A/B winner rules (engine/shell/winners.py) and the
engagement guard (engine/shell/engagement.py) evaluated from the store's exact stats
every few seconds and at every test-clock move. A winner is committed to the store
(`meta`, key `winner.<campaign>`) before the core is handed it, so it survives restarts
and is never made twice; the guard's verdicts are kept the same way (key `engagement`)."""

from __future__ import annotations

import asyncio
import logging

from engine.core import CampaignSet
from engine.local.runtime import Runtime
from engine.shell import engagement
from engine.shell.winners import META_PREFIX, Decision, judge, with_judgements

log = logging.getLogger("pushcast.winners")

INTERVAL_S = 5.0


class WinnerJudge:
    def __init__(self, runtime: Runtime, interval: float = INTERVAL_S):
        self.runtime = runtime
        self.interval = interval
        self.decided: dict[str, Decision] = {
            key[len(META_PREFIX):]: Decision.from_json(value) for key, value in runtime.store.metas(META_PREFIX)}
        kept = runtime.store.get_meta(engagement.META_KEY)
        self.guard = engagement.loads(kept)[1] if kept is not None else {}
        engagement.publish(runtime.metrics, {}, self.guard)
        self._lock = asyncio.Lock()
        runtime.winner_judge = self
        runtime.campaigns = with_judgements(runtime.campaigns, self.decided, self.guard)

    def reloaded(self, campaigns: CampaignSet) -> None:
        """A reload listener: the new set runs with the winners decided and the guard's verdicts."""
        self.runtime.campaigns = with_judgements(campaigns, self.decided, self.guard)

    def decision(self, campaign: str) -> dict | None:
        found = self.decided.get(campaign)
        return found.as_stats() if found is not None else None

    def engagement(self, campaign: str) -> dict | None:
        return engagement.as_stats(self.guard, campaign)

    async def judge_now(self) -> list[Decision]:
        async with self._lock:
            runtime = self.runtime
            stats = runtime.store.stats
            stats_of = lambda c: stats(c).get(c, {})  # noqa: E731
            pending: dict[str, Decision] = dict(self.decided)
            now = runtime.clock.now()
            new = judge(runtime.campaigns, pending, stats_of, now)
            guard = engagement.assess(runtime.campaigns.config.engagement, runtime.campaigns, stats_of, now,
                                      self.guard)
            changed = not engagement.same(guard, self.guard)
            keep = {META_PREFIX + d.campaign: d.to_json() for d in new}
            if changed:
                keep[engagement.META_KEY] = engagement.dumps(guard, now).decode()
            if keep:
                await runtime.submit([], keep)
            if new:
                self.decided.update({d.campaign: d for d in new})
                for d in new:
                    log.warning("campaign %s: variant %s wins (%s), from now on it takes the traffic",
                                d.campaign, d.variant, d.figures)
            for line in engagement.changes(self.guard, guard):
                log.warning("%s", line)
            engagement.publish(runtime.metrics, self.guard, guard)
            if changed:
                self.guard = guard
            if keep:
                runtime.campaigns = with_judgements(runtime.campaigns, self.decided, self.guard)
            if runtime.metrics is not None:
                runtime.metrics.winners_judged.set(now / 1000)
            return new

    async def run(self) -> None:
        while True:
            try:
                await self.judge_now()
            except Exception:  # a failed commit: the same decision is judged again next time
                log.exception("judging the A/B winners and the engagement guard failed; retrying in %.0f s",
                              self.interval)
            await asyncio.sleep(self.interval)
