"""Where each partition is read from, decided by pushcast rather than by Faust's commits.

Faust (0.15) can skip records after a rebalance. Its consumer marks records it iterated
during a rebalance as read without delivering them and then drops their redelivery as
"already read"; it counts jumps in read offsets as gaps that need no ack; and its commit
check accepts a one-record hole (and any hole when the committed offset is unknown). Each
of these can commit past a record no agent applied: the crash test lost up to 7% of sends.

So every stream here is guarded:
- each owned partition has an expected next offset, set when pushcast seeks it (to the
  offset after the last record applied, which the user agent stores in its own table);
- a batch keeps only the records that continue their partition without a hole; a record
  after a hole means records were dropped, and the partition is sought back to the hole,
  once: the records fetched before the seek still come first (Faust buffers thousands),
  and seeking again for each of them restarted the fetch hundreds of times (CI logs);
- a record not applied is never acknowledged, and commits move only over a run of
  acknowledged offsets that starts at the committed one (`faust_private.strict_new_offset`);
- Faust delivers every record of these topics it fetches, those below its "read offset"
  too (`faust_private.deliver_every_read`): the guard drops what came already.

The Faust internals this takes (its commit bookkeeping) are reached through faust_private.py.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Iterable, TypeVar

from engine.agents import faust_private

R = TypeVar("R")


class OffsetGuard:
    """The next expected offset of each partition of one topic that this worker owns."""

    # A hole sought back to is sought again if its records have not come by then (they
    # were dropped again), at the next record after it or by the worker's timer.
    SEEK_AGAIN_AFTER = 5.0

    def __init__(self, topic: str, clock: Callable[[], float] = time.monotonic):
        self.topic = topic
        self.expected: dict[int, int] = {}
        self.sought: dict[int, float] = {}  # partition -> when it was sought back to its hole
        self._clock = clock

    def reset(self, partition: int, offset: int) -> None:
        self.expected[partition] = offset
        self.sought.pop(partition, None)

    def drop(self, partitions: Iterable[int]) -> None:
        for partition in partitions:
            self.expected.pop(partition, None)
            self.sought.pop(partition, None)

    def late_holes(self) -> dict[int, int]:
        """{partition: offset to seek back to again} of the holes sought back to whose
        records have not come within SEEK_AGAIN_AFTER (each counted as sought now)."""
        now = self._clock()
        late = {p: self.expected[p] for p, at in self.sought.items() if now - at >= self.SEEK_AGAIN_AFTER}
        self.sought.update(dict.fromkeys(late, now))
        return late

    def admit(self, records: list[R]) -> tuple[list[R], dict[int, int], list[R]]:
        """(records that continue their partition in order, {partition: offset to seek
        back to} for partitions with a hole, the other records: redelivered, after a hole
        or of a partition not owned). Records have `partition` and `offset`."""
        kept: list[R] = []
        holes: dict[int, int] = {}
        skipped: list[R] = []
        expected, sought = self.expected, self.sought
        for record in records:
            partition = record.partition
            want = expected.get(partition)
            if want is None or partition in holes or record.offset < want:
                skipped.append(record)
            elif record.offset == want:
                expected[partition] = want + 1
                sought.pop(partition, None)
                kept.append(record)
            else:
                skipped.append(record)
                now = self._clock()
                if now - sought.get(partition, now - self.SEEK_AGAIN_AFTER) >= self.SEEK_AGAIN_AFTER:
                    holes[partition] = want
                    sought[partition] = now
        return kept, holes, skipped


async def seek_guarded(consumer: Any, tp, offset: int) -> None:
    """Seek `tp` to `offset` and make it the base of commits: acknowledgements and gaps
    Faust kept for it belong to an older read and must not be committed."""
    await faust_private.seek_in_consumer_thread(consumer, tp, offset)
    faust_private.reset_commit_base(consumer, tp, offset)
