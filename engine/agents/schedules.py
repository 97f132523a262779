"""Scheduled campaigns on a Kafka worker: each run due by now is announced to the
partitions this worker owns, from a cursor per partition and campaign.

One `partition-run` record per partition and run, never one per user: the partition's
owner applies the run to the users it stores, a step at a time (partition_runs.py).
The cursor is durable: the user agent writes it into the state table with the run's
last step. A crash before it announces the run again (an announcement of a run under
way or made is skipped); after an outage of any length the
next owner reads the cursor and makes every run missed, decided then (a run made late
follows `late:`, as in the embedded runtime). A campaign first seen runs from then on.
"""

from __future__ import annotations

import logging

from engine.agents.records import decode_schedule_cursor, encode_partition_run, encode_schedule_cursor
from engine.agents.table import schedule_cursor, write_schedule_cursor
from engine.core.schedule import run_times

log = logging.getLogger(__name__)

# How far ahead a campaign's next run is looked up: the timer ticks every 10 ms, and
# computing cron times at each tick for every campaign and partition took ~13% of a
# busy worker (py-spy, bench/RESULTS.md); now they are computed when a run is due.
LOOKAHEAD_MS = 3_600_000


class ScheduleRunner:
    def __init__(self, worker):
        self.worker = worker
        self.cursors: dict[int, dict[str, int]] = {}  # partition -> campaign -> last run made
        # (campaign, cursor) -> no run of it before this time; for one campaign set
        self.quiet_until: dict[tuple[str, int], int] = {}
        self.quiet_for = None

    def keep_partitions(self, owned: set[int]) -> None:
        """After a rebalance: the cursors of partitions kept are this worker's own; those
        of new ones are read from the table when first needed."""
        for partition in list(self.cursors):
            if partition not in owned:
                del self.cursors[partition]
        for partition in owned - self.cursors.keys():
            self.cursors[partition] = {}

    async def run_due(self) -> None:
        """Announce every run due by now to the partitions owned."""
        worker = self.worker
        now = worker.clock.now()
        runs: dict[tuple[int, str, str], set[int]] = {}  # (at, campaign, slot) -> partitions
        campaigns = worker.campaigns()
        if campaigns is not self.quiet_for:  # reloaded: schedules may have changed
            self.quiet_until, self.quiet_for = {}, campaigns
        quiet, self.quiet_until = self.quiet_until, {}  # only the current cursors' entries stay
        for compiled in campaigns.by_id.values():
            if compiled.campaign.when.schedule is None:
                continue
            for partition, cursors in list(self.cursors.items()):
                cursor = cursors.get(compiled.id)
                if cursor is None:
                    cursor = schedule_cursor(worker.table, partition, compiled.id)
                if cursor is None:  # runs due from now on, as the simulated clock starts
                    await self.advance(partition, compiled.id, now - 1)
                    continue
                cursors[compiled.id] = cursor
                for slot, at in self.due_runs(compiled, cursor, now, quiet):
                    runs.setdefault((at, compiled.id, slot), set()).add(partition)
        for (at, campaign, slot), partitions in sorted(runs.items()):
            worker.metrics.scheduled_runs.labels(campaign).inc()
            value, headers = encode_partition_run(campaign, slot, at)
            for partition in sorted(partitions):
                await worker.events_topic.send(key=None, value=value, partition=partition, headers=headers)
                if partition in self.cursors:  # in the table once the announcement is applied
                    self.cursors[partition][campaign] = at

    def due_runs(self, compiled, cursor: int, now: int, quiet: dict) -> list[tuple[str, int]]:
        """`run_times(compiled, cursor, now)`, computed only once a run can be due: the
        runs up to a later time hold those up to `now`, and the first one after `now`
        says when to look again (`quiet`: what the last tick found)."""
        key = (compiled.id, cursor)
        if now < quiet.get(key, now):
            self.quiet_until[key] = quiet[key]
            return []
        runs = run_times(compiled, cursor, now + LOOKAHEAD_MS)
        later = [at for _, at in runs if at > now]
        self.quiet_until[key] = min(later) if later else now + LOOKAHEAD_MS
        return [(slot, at) for slot, at in runs if at <= now]

    async def advance(self, partition: int, campaign: str, at: int) -> None:
        """The runs of `campaign` over `partition` are made up to `at`: here at once, in
        the table once the user agent applies the cursor record."""
        if partition in self.cursors:
            self.cursors[partition][campaign] = at
        value, headers = encode_schedule_cursor(campaign, at)
        await self.worker.events_topic.send(key=None, value=value, partition=partition, headers=headers)


def write_cursors(batch, records) -> None:
    """The user agent's part: cursor records into their partitions' table entries
    (a `table.TableBatch`; a run's own cursor is written by partition_runs.py)."""
    for record in records:
        try:
            campaign, at = decode_schedule_cursor(record.value)
        except Exception:
            log.warning("ignoring a malformed schedule cursor record at %s[%d]@%d",
                        record.topic, record.partition, record.offset)
            continue
        write_schedule_cursor(batch, record, campaign, at)
