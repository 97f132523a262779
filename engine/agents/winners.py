"""A/B winners on Kafka: one decider judges, every worker learns the decision in order.

    decider (the owner of events partition 0) ── exact stats (stats.py) ──▶ decide
        └─▶ one `winner` record into every events partition, partition 0 last
    user agent ──▶ the decision into the partition's table entry, and into the campaigns
                   this worker decides with, before the batch that holds it is applied

The decision is `engine.shell.winners`' (the same rule and figures as the embedded
runtime). It is durable once in the events topic: each partition's owner writes it to
its table (`WINNER_PREFIX + partition/campaign`) and reads it back after a rebalance or a
restart. A decider that dies while announcing leaves partition 0 without it, so the
next decider judges again and announces to every partition; a partition that already
has a decision keeps the first (a campaign is never decided twice in one partition).
"""

from __future__ import annotations

import asyncio
import logging

from engine.agents.records import INTERNAL_HEADER, header
from engine.agents.stats import StatsError, request_stats
from engine.agents.table import WINNER_PREFIX, in_context
from engine.core import CampaignSet
from engine.shell.winners import Decision, decide, undecided, with_winners

log = logging.getLogger(__name__)

WINNER = b"winner"
JUDGE_EVERY_S = 5.0  # wall seconds between judgements on a real clock; a clock move judges at once
POLL_S = 0.05
STATS_TIMEOUT_S = 30.0


def is_decision(headers) -> bool:
    return header(headers, INTERNAL_HEADER) == WINNER


def winner_key(partition: int, campaign: str) -> bytes:
    return WINNER_PREFIX + f"{partition}/{campaign}".encode()


class WinnerBook:
    """The winners this worker knows, the campaign set it decides with, and (on the owner
    of partition 0) the judge."""

    def __init__(self, worker):
        self.worker = worker
        self.decided: dict[str, Decision] = {}
        self.announced: set[str] = set()  # announced by this decider, not read back yet
        self._base: CampaignSet | None = None
        self._with: CampaignSet | None = None

    def campaigns(self) -> CampaignSet:
        """The running campaign set with the winners known (what the user agent decides with)."""
        base = self.worker.campaigns()
        if base is not self._base:
            self._base, self._with = base, with_winners(base, self.decided)
        return self._with

    def as_stats(self) -> dict[str, dict]:
        return {campaign: decision.as_stats() for campaign, decision in self.decided.items()}

    def learn(self, decision: Decision) -> bool:
        if decision.campaign in self.decided:
            return False
        self.decided[decision.campaign] = decision
        self._base = None  # the set is made again with it
        log.warning("campaign %s: variant %s wins (%s), from now on it takes the traffic",
                    decision.campaign, decision.variant, decision.figures)
        return True

    def recover(self, table, owned: set[int]) -> None:
        """After partitions were assigned: the decisions their table entries hold."""
        for compiled in self.worker.campaigns().by_id.values():
            if compiled.campaign.what.winner is None:
                continue
            for partition in sorted(owned):
                raw = table.data.get(winner_key(partition, compiled.id))
                if raw is not None:
                    self.learn(Decision.from_json(raw))
                    break

    def write(self, table, batch, records) -> None:
        """The user agent's part, before the batch's users: each decision into its
        partition's table entry, through `batch` (a `table.TableBatch`; the first
        decision a partition got stays)."""
        for record in records:
            try:
                decision = Decision.from_json(record.value)
            except Exception:
                log.warning("ignoring a malformed winner record at %s[%d]@%d", record.topic, record.partition,
                            record.offset)
                continue
            key = winner_key(record.partition, decision.campaign)
            in_context(record.ref)
            if table.data.get(key) is None and not batch.pending(record.partition, key):
                batch.put(record.partition, key, record.value)
            self.learn(decision)
            self.announced.discard(decision.campaign)

    # --- the decider ------------------------------------------------------------------

    async def run(self) -> None:
        """Judge when the clock moved (a test clock) or every JUDGE_EVERY_S, while this
        worker owns partition 0. A task of its own: gathering stats never delays a timer."""
        worker = self.worker
        judged_clock, judged_wall = None, 0.0
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(POLL_S)
            now = worker.clock.now()
            if not worker.ready or worker.app.rebalancing or 0 not in worker.owned_partitions():
                continue
            if now == judged_clock and loop.time() - judged_wall < JUDGE_EVERY_S:
                continue
            try:
                await self.judge(now)
            except asyncio.CancelledError:
                raise
            except StatsError as error:  # a partition between owners: next time
                log.warning("judging the A/B winners: %s", error)
                continue
            except Exception:
                log.exception("judging the A/B winners failed")
                continue
            judged_clock, judged_wall = now, loop.time()
            worker.metrics.winners_judged.set(now / 1000)

    async def judge(self, now: int) -> list[Decision]:
        base = self.worker.campaigns()
        pending = [c for c in undecided(base, self.decided) if c.id not in self.announced]
        if not pending:
            return []
        s = self.worker.settings
        stats = await request_stats(s.bootstrap, s.events_topic, s.reach_replies_topic, None,
                                    timeout=STATS_TIMEOUT_S)
        decisions = [d for d in (decide(c, stats.get(c.id, {}), now) for c in pending) if d is not None]
        for decision in decisions:
            await self.announce(decision)
        return decisions

    async def announce(self, decision: Decision) -> None:
        """Into every events partition, each acknowledged, partition 0 last: a decider
        that finds it in partition 0's table knows every partition has it."""
        topic = self.worker.events_topic
        value = decision.to_json().encode()
        for partition in range(self.worker.settings.partitions - 1, -1, -1):
            sent = await topic.send(key=None, value=value, partition=partition, headers=[(INTERNAL_HEADER, WINNER)])
            await sent
        self.announced.add(decision.campaign)
