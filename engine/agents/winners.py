"""A/B winners and the engagement guard on Kafka: one decider judges, every worker learns
the decision in order.

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

The engagement guard's verdicts (engine/shell/engagement.py) travel the same way, as one
`engagement` record holding all of them whenever they change; each partition keeps the
newest it got (`WINNER_PREFIX + partition/*engagement`), and workers decide with the
newest they know.
"""

from __future__ import annotations

import asyncio
import logging

from engine.agents.records import INTERNAL_HEADER, header
from engine.agents.stats import StatsError, request_stats
from engine.agents.table import WINNER_PREFIX, in_context
from engine.core import CampaignSet
from engine.shell import engagement
from engine.shell.winners import Decision, decide, undecided, with_judgements

log = logging.getLogger(__name__)

WINNER = b"winner"
ENGAGEMENT = b"engagement"
GUARD_ENTRY = "*engagement"  # a partition's table entry of the guard (never a campaign id: ids are slugs)
JUDGE_EVERY_S = 5.0  # wall seconds between judgements on a real clock; a clock move judges at once
POLL_S = 0.05
STATS_TIMEOUT_S = 30.0


def is_decision(headers) -> bool:
    return header(headers, INTERNAL_HEADER) in (WINNER, ENGAGEMENT)


def winner_key(partition: int, campaign: str) -> bytes:
    return WINNER_PREFIX + f"{partition}/{campaign}".encode()


class WinnerBook:
    """The winners this worker knows, the campaign set it decides with, and (on the owner
    of partition 0) the judge."""

    def __init__(self, worker):
        self.worker = worker
        self.decided: dict[str, Decision] = {}
        self.announced: set[str] = set()  # announced by this decider, not read back yet
        self.guard: dict = {}  # the newest engagement guard verdicts known, judged at guard_at
        self.guard_at = -1
        self._base: CampaignSet | None = None
        self._with: CampaignSet | None = None

    def campaigns(self) -> CampaignSet:
        """The running campaign set with the winners known (what the user agent decides with)."""
        base = self.worker.campaigns()
        if base is not self._base:
            self._base, self._with = base, with_judgements(base, self.decided, self.guard)
        return self._with

    def as_stats(self) -> dict[str, dict]:
        return {campaign: decision.as_stats() for campaign, decision in self.decided.items()}

    def engagement_stats(self) -> dict[str, dict]:
        """{campaign: the verdict holding it back}, as stats show it."""
        if not self.guard:
            return {}
        held = {cid: engagement.as_stats(self.guard, cid) for cid in self.worker.campaigns().by_id}
        return {cid: verdict for cid, verdict in held.items() if verdict is not None}

    def learn_guard(self, raw: bytes) -> None:
        at, guard = engagement.loads(raw)
        if at < self.guard_at:
            return  # an older judgement read after a newer one
        for line in engagement.changes(self.guard, guard):
            log.warning("%s", line)
        self.guard, self.guard_at = guard, at
        self._base = None

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
        for partition in sorted(owned):
            raw = table.data.get(winner_key(partition, GUARD_ENTRY))
            if raw is not None:
                self.learn_guard(raw)

    def write(self, table, batch, records) -> None:
        """The user agent's part, before the batch's users: each decision into its
        partition's table entry, through `batch` (a `table.TableBatch`; the first
        decision a partition got stays)."""
        for record in records:
            if header(record.headers, INTERNAL_HEADER) == ENGAGEMENT:
                self._write_guard(table, batch, record)
                continue
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

    def _write_guard(self, table, batch, record) -> None:
        """The newest verdicts into the partition's table entry (a record read late, after
        a newer one, changes nothing)."""
        try:
            at, _ = engagement.loads(record.value)
        except Exception:
            log.warning("ignoring a malformed engagement record at %s[%d]@%d", record.topic, record.partition,
                        record.offset)
            return
        key = winner_key(record.partition, GUARD_ENTRY)
        in_context(record.ref)
        kept = batch.partitions.get(record.partition, {}).get(key) or table.data.get(key)
        if kept is None or engagement.loads(kept)[0] <= at:
            batch.put(record.partition, key, record.value)
        self.learn_guard(record.value)

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
        rule = base.config.engagement
        if not pending and rule is None and not self.guard:
            return []
        s = self.worker.settings
        stats = await request_stats(s.bootstrap, s.events_topic, s.reach_replies_topic, None,
                                    timeout=STATS_TIMEOUT_S)
        decisions = [d for d in (decide(c, stats.get(c.id, {}), now) for c in pending) if d is not None]
        for decision in decisions:
            await self.announce(decision.to_json().encode(), WINNER)
            self.announced.add(decision.campaign)
        guard = engagement.assess(rule, base, lambda c: stats.get(c, {}), now, self.guard)
        if not engagement.same(guard, self.guard):
            await self.announce(engagement.dumps(guard, now), ENGAGEMENT)
        engagement.publish(self.worker.metrics, self.guard, guard)
        return decisions

    async def announce(self, value: bytes, kind: bytes) -> None:
        """Into every events partition, each acknowledged, partition 0 last: a decider
        that finds it in partition 0's table knows every partition has it."""
        topic = self.worker.events_topic
        for partition in range(self.worker.settings.partitions - 1, -1, -1):
            sent = await topic.send(key=None, value=value, partition=partition, headers=[(INTERNAL_HEADER, kind)])
            await sent
