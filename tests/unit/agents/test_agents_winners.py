"""A/B winners on Kafka, without Kafka: the decision records the user agent writes (the
first decision a partition gets stays), what a worker decides with once it knows one,
what it finds again after a restart, and the stats answers that carry it."""

from __future__ import annotations

from types import SimpleNamespace

from engine.agents.records import INTERNAL_HEADER
from engine.agents.stats import StatsBook, encode_request
from engine.agents.table import TableBatch
from engine.agents.users import Record
from engine.agents.winners import WINNER, WinnerBook, is_decision, winner_key
from engine.shell.winners import Decision
from tests.unit.agents.test_agents_stats import FakeTable, Ref
from tests.unit.agents.test_agents_users import START
from tests.unit.core_helpers import campaigns

AB = """
campaign: ab
who: {on: {event: Viewed}}
what:
  title: hi
  variants: [{name: a}, {name: b, title: ho}]
  winner: {metric: clicks, min_sends: 10}
"""


def decision_record(decision: Decision, partition: int, offset: int) -> Record:
    return Record(None, decision.to_json().encode(), [(INTERNAL_HEADER, WINNER)], START, partition, offset,
                  "events", Ref())


def test_a_partition_keeps_the_first_decision_and_the_worker_decides_with_it():
    cs = campaigns(AB)
    book = WinnerBook(SimpleNamespace(campaigns=lambda: cs))
    table = FakeTable()
    assert book.campaigns().winners == {} and cs.winners == {}
    first, second = Decision("ab", "b", 1, "clicks", {}), Decision("ab", "a", 2, "clicks", {})
    assert is_decision(decision_record(first, 0, 1).headers)
    batch = TableBatch()
    book.write(table, batch, [decision_record(first, 3, 7), decision_record(second, 3, 8)])
    table.apply(batch)
    assert Decision.from_json(table.data[winner_key(3, "ab")]) == first
    assert book.campaigns().winners == {"ab": "b"} and cs.winners == {}  # the reloader's set is left alone
    assert book.as_stats()["ab"]["variant"] == "b"


def test_a_restarted_worker_finds_the_decisions_of_its_partitions():
    cs = campaigns(AB)
    table = FakeTable()
    table[winner_key(5, "ab")] = Decision("ab", "a", 1, "clicks", {}).to_json().encode()
    book = WinnerBook(SimpleNamespace(campaigns=lambda: cs))
    book.recover(table, {1, 2})
    assert book.decided == {}
    book.recover(table, {4, 5})
    assert book.campaigns().winners == {"ab": "a"}


def test_stats_answers_carry_the_winners_the_worker_knows():
    table = FakeTable()
    ask = Record(None, encode_request("q", "ab")[0], encode_request("q", "ab")[1], START, 0, 9, "events", Ref())
    winners = {"ab": {"variant": "b"}, "other": {"variant": "x"}}
    [reply] = StatsBook().answer(table, [ask], winners)
    assert reply["winners"] == {"ab": {"variant": "b"}}
    [plain] = StatsBook().answer(table, [ask])
    assert "winners" not in plain
