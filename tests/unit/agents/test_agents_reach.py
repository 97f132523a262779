"""Reach on the Kafka runtime, without Kafka: each partition's answer counts only the
states stored for that partition, and the sum of one answer per partition is the core's
`count_reach` over every user."""

from __future__ import annotations

import asyncio

import pytest

from engine.agents.reach import (
    TEST_PROFILES_QUESTION, ReachError, ReachRequest, answer, answer_table, decode_request, encode_request,
    is_request, partition_reach, total,
)
from engine.agents.records import INTERNAL_HEADER, StoredState, encode_run
from engine.core import UserState, process_event
from engine.core.reach import count_reach
from engine.rules.model import GlobalConfig
from tests.unit.core_helpers import T0, campaigns
from tests.unit.core.test_schedule_reach import SEGMENT, random_events

PARTITIONS = 4


def _states(cs) -> dict[str, UserState]:
    states: dict[str, UserState] = {}
    for event in random_events(400):
        state = states.setdefault(event.user, UserState(event.user))
        process_event(state, event, cs)
    return states


def _table(states: dict[str, UserState]) -> list[tuple[bytes, bytes]]:
    return [(user.encode(), StoredState(state, int(user[1:]) % PARTITIONS, 7).dumps())
            for user, state in states.items()]


def test_one_answer_per_partition_sums_to_the_core_count():
    cs = campaigns(SEGMENT, config=GlobalConfig(test_users=("u0003",)))
    states = _states(cs)
    requests = [ReachRequest("r1", "gold-launchers", T0, p) for p in range(PARTITIONS)]
    replies = answer(requests, _table(states) + [(b"gone", None)], cs)
    assert [r["partition"] for r in replies] == list(range(PARTITIONS))
    found = total("gold-launchers", T0, PARTITIONS, {r["partition"]: r for r in replies})
    qualified, reachable = count_reach(states.values(), cs.get("gold-launchers"), T0, cs)
    assert (found.users, found.qualified, found.reachable) == (len(states), qualified, reachable)
    assert found.qualified == found.reachable + found.no_subscription + found.test_profiles
    assert 0 < found.reachable < found.qualified


def test_a_partition_answers_for_its_own_states_only():
    # A worker's table also holds other partitions (standby copies): never counted.
    cs = campaigns(SEGMENT)
    states = _states(cs)
    (reply,) = answer([ReachRequest("r1", "gold-launchers", T0, 2)], _table(states), cs)
    assert reply["users"] == sum(1 for user in states if int(user[1:]) % PARTITIONS == 2)


def test_a_partition_is_told_from_another_whose_number_ends_alike():
    # The header's partition is compared whole: partition 1 is not 11, 21 or 10.
    cs = campaigns(SEGMENT)
    states = _states(cs)
    table = [(user.encode(), StoredState(state, (1, 11, 21, 10)[int(user[1:]) % 4], 7).dumps())
             for user, state in states.items()]
    replies = answer([ReachRequest("r1", "gold-launchers", T0, p) for p in (1, 11)], table, cs)
    assert [r["users"] for r in replies] == [sum(1 for user in states if int(user[1:]) % 4 == i) for i in (0, 1)]
    assert all(r["users"] > 0 for r in replies)


def test_an_unknown_campaign_or_a_missing_partition_is_an_error():
    cs = campaigns(SEGMENT)
    (reply,) = answer([ReachRequest("r1", "nope", T0, 0)], [], cs)
    with pytest.raises(ReachError, match="no campaign 'nope'.*gold-launchers"):
        total("nope", T0, 1, {0: reply})
    (reply,) = answer([ReachRequest("r1", "gold-launchers", T0, 0)], [], cs)
    with pytest.raises(ReachError, match=r"partition\(s\) \[1, 2\]"):
        total("gold-launchers", T0, 3, {0: reply})


def test_a_request_record_is_internal_and_round_trips():
    value, headers = encode_request("r9", "gold-launchers", T0)
    assert is_request(headers) and headers[0][0] == INTERNAL_HEADER
    assert not is_request(encode_run("u1", "c", "slot", T0)[1]) and not is_request(None)
    assert decode_request(value, 3) == ReachRequest("r9", "gold-launchers", T0, 3)


def test_a_partition_read_a_slice_at_a_time_counts_the_same():
    # Slices of 1 and 3 cut between the partition's states and the values passed over
    # (another partition's states, Faust's changelog position: a number).
    cs = campaigns(SEGMENT)
    states = _states(cs)
    values = [value for _user, value in _table(states)] + [b"12345", b"2"]
    compiled = cs.get("gold-launchers")
    whole = partition_reach(values, 2, compiled, T0, cs)
    assert whole.users == sum(1 for user in states if int(user[1:]) % PARTITIONS == 2) and whole.qualified > 0
    for size in (1, 3):
        assert partition_reach(iter(values), 2, compiled, T0, cs, slice_size=size) == whole


def test_the_table_answer_reads_values_for_reach_and_pairs_for_test_profiles():
    cs = campaigns(SEGMENT, config=GlobalConfig(test_users=("u0003",)))
    table = _table(_states(cs))
    requests = [ReachRequest("r1", "gold-launchers", T0, 1),
                ReachRequest("r2", "gold-launchers", T0, 3, TEST_PROFILES_QUESTION)]
    read = []

    def values_of(partition):
        read.append(("values", partition))
        return iter([value for _key, value in table])

    async def items_of(partition):
        read.append(("items", partition))
        return table

    replies = asyncio.run(answer_table(requests, values_of, items_of, cs))
    assert replies == answer(requests, table, cs)
    assert read == [("values", 1), ("items", 3)]
    found = replies[1]["test_users"]  # the configured one, and profiles marked test, of partition 3 only
    assert "u0003" in found and all(int(user[1:]) % PARTITIONS == 3 for user in found)
