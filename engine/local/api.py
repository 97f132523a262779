"""What the HTTP API (`connectors.http`) asks of the embedded runtime, in one object, so
the API imports no runtime and a gateway over Kafka can answer the same routes: the
`connectors.http.protocol.RuntimeApi` contract (engine/gateway/api.py is the other)."""

from __future__ import annotations

import asyncio

from engine.core.campaigns import CampaignSet, CompiledCampaign
from engine.core.state import UserState
from engine.local.reach import reach_of_store
from engine.local.runtime import Runtime
from engine.local.send_test import send_test
from engine.shell.stats import campaign_stats
from engine.shell.reach import Reach


class EmbeddedApi:
    def __init__(self, runtime: Runtime):
        self.runtime = runtime

    @property
    def campaigns(self) -> CampaignSet:
        return self.runtime.campaigns

    @property
    def clock(self):
        return self.runtime.clock

    @property
    def secret(self) -> bytes:
        return self.runtime.secret

    async def submit(self, items: list) -> list[dict]:
        """Apply events and reports; returns once they are committed."""
        return await self.runtime.submit(items)

    async def stats(self, campaign_id: str) -> dict | None:
        """The campaign's exact stats; None when it is neither loaded nor ever counted."""
        runtime = self.runtime
        await runtime.barrier()  # everything acknowledged before this request is counted
        stored = runtime.store.stats(campaign_id)
        if campaign_id not in runtime.campaigns.by_id and not stored:
            return None
        judge = runtime.winner_judge
        winner = judge.decision(campaign_id) if judge is not None else None
        held = judge.engagement(campaign_id) if judge is not None else None
        return campaign_stats(campaign_id, stored.get(campaign_id, {}), winner, held)

    async def all_stats(self) -> dict[str, dict]:
        await self.runtime.barrier()
        return {name: campaign_stats(name, metrics) for name, metrics in self.runtime.store.stats().items()}

    async def reach(self, compiled: CompiledCampaign) -> Reach:
        runtime = self.runtime
        await runtime.barrier()  # everything acknowledged before this request is counted
        # A scan of every stored state: in a thread with its own read snapshot.
        return await asyncio.to_thread(reach_of_store, runtime.store.path, compiled, runtime.clock.now(),
                                       runtime.campaigns)

    async def send_test(self, campaign_id: str, user: str | None) -> dict:
        return await send_test(self.runtime, campaign_id, user)

    async def user_state(self, user: str) -> UserState | None:
        await self.runtime.barrier()
        return self.runtime.user_state(user)

    async def clock_moved(self) -> int:
        """After a test clock move: keep the reading, fire what became due; timers fired."""
        await self.runtime.save_clock()
        return await self.runtime.fire_due()

    def health(self) -> dict:
        return {"timers": len(self.runtime.timers), "outbox_pending": self.runtime.store.pending_count()}

    def update_gauges(self, metrics) -> None:
        metrics.outbox_pending.set(self.runtime.store.pending_count())
        metrics.waits_pending.set(len(self.runtime.timers))
