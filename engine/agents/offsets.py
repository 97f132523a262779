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
  after a hole means records were dropped, and the partition is sought back to the hole;
- a record not applied is never acknowledged, and commits move only over a run of
  acknowledged offsets that starts at the committed one (`faust_private.strict_new_offset`).

The Faust internals this takes (its commit bookkeeping) are reached through faust_private.py.
"""

from __future__ import annotations

from typing import Any, Iterable, TypeVar

from engine.agents import faust_private

R = TypeVar("R")


class OffsetGuard:
    """The next expected offset of each partition of one topic that this worker owns."""

    def __init__(self, topic: str):
        self.topic = topic
        self.expected: dict[int, int] = {}

    def reset(self, partition: int, offset: int) -> None:
        self.expected[partition] = offset

    def drop(self, partitions: Iterable[int]) -> None:
        for partition in partitions:
            self.expected.pop(partition, None)

    def admit(self, records: list[R]) -> tuple[list[R], dict[int, int], list[R]]:
        """(records that continue their partition in order, {partition: offset to seek
        back to} for partitions with a hole, the other records: redelivered, after a hole
        or of a partition not owned). Records have `partition` and `offset`."""
        kept: list[R] = []
        holes: dict[int, int] = {}
        skipped: list[R] = []
        expected = self.expected
        for record in records:
            partition = record.partition
            want = expected.get(partition)
            if want is None or partition in holes or record.offset < want:
                skipped.append(record)
            elif record.offset == want:
                expected[partition] = want + 1
                kept.append(record)
            else:
                holes[partition] = want
                skipped.append(record)
        return kept, holes, skipped


async def seek_guarded(consumer: Any, tp, offset: int) -> None:
    """Seek `tp` to `offset` and make it the base of commits: acknowledgements and gaps
    Faust kept for it belong to an older read and must not be committed."""
    await faust_private.seek_in_consumer_thread(consumer, tp, offset)
    faust_private.reset_commit_base(consumer, tp, offset)
