"""The Kafka worker's own read positions: holes are found and read again, commits never
pass a record that was not acknowledged."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from hypothesis import given, strategies as st

from engine.agents.faust_private import strict_new_offset
from engine.agents.offsets import OffsetGuard


@dataclass(frozen=True)
class Rec:
    partition: int
    offset: int


def test_a_batch_in_order_is_kept_and_advances_each_partition():
    guard = OffsetGuard("events")
    guard.reset(0, 10)
    guard.reset(1, 0)
    batch = [Rec(0, 10), Rec(1, 0), Rec(0, 11), Rec(1, 1)]
    kept, holes, skipped = guard.admit(batch)
    assert kept == batch and holes == {} and skipped == []
    assert guard.expected == {0: 12, 1: 2}


def test_redeliveries_are_skipped():
    guard = OffsetGuard("events")
    guard.reset(0, 10)
    kept, holes, skipped = guard.admit([Rec(0, 8), Rec(0, 9), Rec(0, 10)])
    assert kept == [Rec(0, 10)] and holes == {} and skipped == [Rec(0, 8), Rec(0, 9)]


def test_a_hole_stops_the_partition_at_the_hole_and_not_the_others():
    guard = OffsetGuard("events")
    guard.reset(0, 10)
    guard.reset(1, 5)
    kept, holes, skipped = guard.admit([Rec(0, 10), Rec(0, 12), Rec(1, 5), Rec(0, 13), Rec(0, 11)])
    assert kept == [Rec(0, 10), Rec(1, 5)]
    assert holes == {0: 11} and skipped == [Rec(0, 12), Rec(0, 13), Rec(0, 11)]
    assert guard.expected[0] == 11  # read again from the hole


def test_a_hole_is_sought_back_to_once_until_its_records_are_late():
    now = [100.0]
    guard = OffsetGuard("events", clock=lambda: now[0])
    guard.reset(0, 10)
    assert guard.admit([Rec(0, 12)])[1] == {0: 10}
    # Records fetched before the seek still come: skipped, without seeking again.
    kept, holes, skipped = guard.admit([Rec(0, 13), Rec(0, 14)])
    assert (kept, holes, skipped) == ([], {}, [Rec(0, 13), Rec(0, 14)])
    now[0] += OffsetGuard.SEEK_AGAIN_AFTER
    assert guard.admit([Rec(0, 15)])[1] == {0: 10}  # not come by now: dropped again
    assert guard.admit([Rec(0, 10), Rec(0, 11), Rec(0, 13)]) == ([Rec(0, 10), Rec(0, 11)], {0: 12}, [Rec(0, 13)])
    guard.reset(0, 20)
    assert guard.admit([Rec(0, 21)])[1] == {0: 20}  # a new position: a new hole


def test_a_hole_whose_records_do_not_come_is_late_once_per_wait():
    now = [100.0]
    guard = OffsetGuard("events", clock=lambda: now[0])
    guard.reset(0, 10)
    guard.reset(1, 0)
    guard.admit([Rec(0, 12)])
    assert guard.late_holes() == {}
    now[0] += OffsetGuard.SEEK_AGAIN_AFTER
    assert guard.late_holes() == {0: 10}  # the timer seeks it again
    assert guard.late_holes() == {}  # then waits again
    guard.admit([Rec(0, 10)])
    now[0] += OffsetGuard.SEEK_AGAIN_AFTER
    assert guard.late_holes() == {}  # its records came


def test_records_of_partitions_not_owned_are_skipped():
    guard = OffsetGuard("events")
    guard.reset(0, 0)
    guard.reset(1, 0)
    guard.drop([1])
    kept, holes, skipped = guard.admit([Rec(1, 0), Rec(0, 0)])
    assert kept == [Rec(0, 0)] and skipped == [Rec(1, 0)] and holes == {}


class FakeConsumer:
    def __init__(self):
        self._committed_offset = defaultdict(lambda: None)
        self._acked = defaultdict(list)
        self._acked_index = defaultdict(set)

    def ack(self, tp, offset):
        self._acked[tp].append(offset)
        self._acked_index[tp].add(offset)


def test_commits_follow_the_run_that_starts_at_the_committed_offset():
    consumer = FakeConsumer()
    new_offset = strict_new_offset(consumer)
    consumer._committed_offset["tp"] = 10
    for offset in (12, 10, 13):
        consumer.ack("tp", offset)
    assert new_offset("tp") == 11  # 11 is missing: 12 and 13 wait
    assert consumer._acked["tp"] == [12, 13]
    consumer._committed_offset["tp"] = 11
    assert new_offset("tp") is None  # a one-record hole at the head is a hole
    consumer.ack("tp", 11)
    assert new_offset("tp") == 14
    assert consumer._acked["tp"] == [] and consumer._acked_index["tp"] == set()


def test_nothing_is_committed_from_an_unknown_base_and_stale_acks_are_dropped():
    consumer = FakeConsumer()
    new_offset = strict_new_offset(consumer)
    consumer.ack("tp", 0)
    assert new_offset("tp") is None  # committed offset unknown: no base to count from
    consumer._committed_offset["tp"] = 5
    for offset in (1, 2, 5, 6):
        consumer.ack("tp", offset)
    assert new_offset("tp") == 7
    assert consumer._acked["tp"] == [] and consumer._acked_index["tp"] == set()


@given(st.integers(0, 50), st.lists(st.integers(0, 120), max_size=60))
def test_a_commit_never_passes_an_offset_that_was_not_acknowledged(committed, acked):
    consumer = FakeConsumer()
    consumer._committed_offset["tp"] = committed
    for offset in acked:
        if offset not in consumer._acked_index["tp"]:
            consumer.ack("tp", offset)
    result = strict_new_offset(consumer)("tp")
    if result is not None:
        assert result > committed
        assert set(range(committed, result)) <= set(acked)
        assert result not in acked
