"""The embedded runtime's A/B winner judge: the winner rules (engine/shell/winners.py)
evaluated from the store's exact stats every few seconds and at every test-clock move;
a decision is committed to the store (`meta`, key `winner.<campaign>`) before the core
is handed it, so it survives restarts and is never made twice."""

from __future__ import annotations

import asyncio
import logging

from engine.core import CampaignSet
from engine.local.runtime import Runtime
from engine.shell.winners import META_PREFIX, Decision, judge, with_winners

log = logging.getLogger("pushcast.winners")

INTERVAL_S = 5.0


class WinnerJudge:
    def __init__(self, runtime: Runtime, interval: float = INTERVAL_S):
        self.runtime = runtime
        self.interval = interval
        self.decided: dict[str, Decision] = {
            key[len(META_PREFIX):]: Decision.from_json(value) for key, value in runtime.store.metas(META_PREFIX)}
        self._lock = asyncio.Lock()
        runtime.winner_judge = self
        runtime.campaigns = with_winners(runtime.campaigns, self.decided)

    def reloaded(self, campaigns: CampaignSet) -> None:
        """A reload listener: the new set runs with the winners decided."""
        self.runtime.campaigns = with_winners(campaigns, self.decided)

    def decision(self, campaign: str) -> dict | None:
        found = self.decided.get(campaign)
        return found.as_stats() if found is not None else None

    async def judge_now(self) -> list[Decision]:
        async with self._lock:
            runtime = self.runtime
            stats = runtime.store.stats
            pending: dict[str, Decision] = dict(self.decided)
            now = runtime.clock.now()
            new = judge(runtime.campaigns, pending, lambda c: stats(c).get(c, {}), now)
            if new:
                await runtime.submit([], {META_PREFIX + d.campaign: d.to_json() for d in new})
                self.decided.update({d.campaign: d for d in new})
                runtime.campaigns = with_winners(runtime.campaigns, self.decided)
                for d in new:
                    log.warning("campaign %s: variant %s wins (%s), from now on it takes the traffic",
                                d.campaign, d.variant, d.figures)
            if runtime.metrics is not None:
                runtime.metrics.winners_judged.set(now / 1000)
            return new

    async def run(self) -> None:
        while True:
            try:
                await self.judge_now()
            except Exception:  # a failed commit: the same decision is judged again next time
                log.exception("judging the A/B winners failed; retrying in %.0f s", self.interval)
            await asyncio.sleep(self.interval)
