"""Campaign stats on the Kafka runtime, without Kafka: what the user agent counts (each
delivery result per subscription and each report per message once, test sends apart),
the partitions' running totals in the table (a batch read again after a crash counts
once, whatever prefix of its writes survived), and the per-partition answers."""

from __future__ import annotations

import orjson
import pytest

from engine.agents.outcomes import HORIZON_MS
from engine.agents.records import StoredState, encode_test_send, encode_wake, peek_due
from engine.agents.stats import StatsBook, encode_request, index_key, is_request, totals_key
from engine.agents.table import TableBatch
from engine.agents.users import Record, UserProcessor
from engine.core import CampaignSet, UserState
from engine.rules.config import parse_config
from engine.rules.loader import load_campaigns
from engine.rules.model import GlobalConfig
from engine.shell.metrics import worker_metrics
from engine.shell.stats import add_counts, campaign_stats
from tests.unit.core_helpers import campaigns
from tests.unit.agents.test_agents_users import ROOT, START, SUB

SUB2 = {"endpoint": "https://updates.push.services.mozilla.com/wpush/v2/y", "keys": SUB["keys"]}
NEWS = """
campaign: news
status: paused
who: {on: {event: Never}}
what: {title: "News"}
"""
DUE = START + 660_000  # the abandoned-cart reminder: ten quiet minutes after the cart


class Ref:
    """Stands for the Faust event a record carries (table.in_context wants one)."""


class FakeTable:
    """The state table's surface the user agent uses: `data.get`, item assignment."""

    def __init__(self):
        self.data: dict[bytes, bytes] = {}

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.data[key] = value

    def apply(self, batch: TableBatch) -> None:
        batch.apply_to(self.data)

    def load(self, user: str, record) -> bytes | None:
        return self.data.get(user.encode())

    def save_states(self, result, only: set[str] | None = None) -> None:
        for user, (stored, _record) in result.states.items():
            if only is None or user in only:
                self.data[user.encode()] = stored.dumps()


@pytest.fixture
def clock():
    return {"now": START}


@pytest.fixture
def processor(clock):
    campaigns = CampaignSet(load_campaigns([ROOT / "campaigns.d" / "abandoned-cart.yaml"]),
                            parse_config("test_users: [qa-1]"))
    return UserProcessor(lambda: campaigns, worker_metrics(), lambda: clock["now"])


class Stream:
    """Records of one user's events, numbered per partition as Kafka would."""

    def __init__(self, partition: int = 0):
        self.partition, self.offset = partition, 0

    def record(self, value: bytes, key: bytes, headers=()) -> Record:
        record = Record(key, value, list(headers), START, self.partition, self.offset, "events", Ref())
        self.offset += 1
        return record

    def event(self, user: str, name: str, props: dict, ts: int = START) -> Record:
        return self.record(orjson.dumps({"user": user, "event": name, "ts": ts, "props": props}), user.encode())

    def wake(self, user: str, at: int) -> Record:
        value, headers = encode_wake(user, at)
        return self.record(value, user.encode(), headers)


def result(stream: Stream, user: str, name: str, message: str, endpoint: str, **props) -> Record:
    return stream.event(user, name, {"message": message, "campaign": "abandoned-cart", "endpoint": endpoint, **props},
                        DUE + 1000)


def totals(table: FakeTable, partitions=(0,)) -> dict[str, dict[str, float]]:
    """What a new owner of each partition would answer, read from the table alone."""
    out: dict = {}
    book = StatsBook()
    for partition in partitions:
        ask = Record(None, encode_request("q", None)[0], [], START, partition, 10**9, "events", Ref())
        (reply,) = book.answer(table, [ask])
        add_counts(out, reply["stats"])
    return out


def write_stats(book: StatsBook, table: FakeTable, moves, records) -> None:
    batch = TableBatch()
    book.write(table, batch, moves, records)
    table.apply(batch)


def run(processor, table: FakeTable, book: StatsBook, records: list[Record]):
    """One user-agent batch, in app.py's order: stats, states (the applied offset after)."""
    batch = processor.process(records, table.load)
    write_stats(book, table, batch.moves, records)
    table.save_states(batch)
    return batch


def reminder(processor, clock, table, book, stream, subs=(SUB, SUB2)) -> str:
    """u1 subscribes, carts, and the reminder is decided: its message id."""
    records = [stream.event("u1", "$push_subscribe", sub) for sub in subs]
    records.append(stream.event("u1", "Added To Cart", {"product": "Shoes", "cart_id": "c1", "price": 20},
                                START + 60_000))
    run(processor, table, book, records)
    clock["now"] = DUE
    batch = run(processor, table, book, [stream.wake("u1", DUE)])
    ((notify, _),) = batch.notifications
    return notify.message_id


def test_results_count_once_per_subscription_and_reports_once_per_message(processor, clock):
    table, book, stream = FakeTable(), StatsBook(), Stream()
    message = reminder(processor, clock, table, book, stream)
    clock["now"] = DUE + 1000
    outcomes = [
        result(stream, "u1", "$notification_sent", message, SUB["endpoint"], status=201),
        result(stream, "u1", "$notification_failed", message, SUB2["endpoint"], status=410, reason="gone"),
        result(stream, "u1", "$push_unsubscribe", message, SUB2["endpoint"]),
    ]
    # The sender reports again after its partition is read again; the browser twice.
    run(processor, table, book, outcomes + [
        result(stream, "u1", "$notification_sent", message, SUB["endpoint"], status=201),
        result(stream, "u1", "$notification_failed", message, SUB2["endpoint"], status=410, reason="gone"),
        result(stream, "u1", "$push_unsubscribe", message, SUB2["endpoint"]),
        stream.event("u1", "$notification_shown", {"message": message, "campaign": "abandoned-cart"}, DUE + 2000),
        stream.event("u1", "$notification_shown", {"message": message, "campaign": "abandoned-cart"}, DUE + 2000),
    ])
    run(processor, table, book, [
        stream.event("u1", "$notification_clicked", {"message": message, "campaign": "abandoned-cart"}, DUE + 3000),
        stream.event("u1", "$notification_clicked", {"message": message, "campaign": "abandoned-cart"}, DUE + 4000),
        stream.event("u1", "Charged", {"cart_id": "c1", "amount": 30.5}, DUE + 5000),
        # A browser's own unsubscribe names no message: not a failed delivery.
        stream.event("u1", "$push_unsubscribe", {"endpoint": SUB["endpoint"]}, DUE + 6000),
    ])
    stats = campaign_stats("abandoned-cart", totals(table)["abandoned-cart"])
    assert {k: stats[k] for k in ("qualified", "sent", "delivered", "failed", "unsubscribed", "shown", "clicked")} == {
        "qualified": 1, "sent": 1, "delivered": 1, "failed": 1, "unsubscribed": 1, "shown": 1, "clicked": 1}
    assert stats["conversions"] == {"click": 1, "view": 0} and stats["revenue"] == 30.5
    assert stats["test"]["sent"] == 0


def test_test_sends_count_apart_and_their_reports_too(clock):
    cs = campaigns(NEWS, config=GlobalConfig(test_users=("qa-1",)))
    processor = UserProcessor(lambda: cs, worker_metrics(), lambda: clock["now"])
    table, book, stream = FakeTable(), StatsBook(), Stream()
    run(processor, table, book, [stream.event("qa-1", "$push_subscribe", SUB)])
    value, headers = encode_test_send("qa-1", "news", "r1", START + 1000)
    batch = run(processor, table, book, [stream.record(value, b"qa-1", headers)])
    ((notify, _),) = batch.notifications
    run(processor, table, book, [
        stream.event("qa-1", "$notification_sent", {"message": notify.message_id, "campaign": "news",
                                                    "endpoint": SUB["endpoint"]}),
        stream.event("qa-1", "$notification_shown", {"message": notify.message_id, "campaign": "news"}),
        stream.event("qa-1", "$notification_shown", {"message": notify.message_id, "campaign": "news"}),
    ])
    stats = campaign_stats("news", totals(table)["news"])
    assert stats["test"] == {"sent": 1, "delivered": 1, "failed": 0, "unsubscribed": 0, "shown": 1, "clicked": 0}
    assert (stats["sent"], stats["delivered"], stats["shown"], stats["qualified"]) == (0, 0, 0, 0)


def test_a_message_decided_again_is_counted_sent_once_and_forgotten_after_the_horizon(processor, clock):
    table, book, stream = FakeTable(), StatsBook(), Stream()
    message = reminder(processor, clock, table, book, stream, subs=(SUB,))
    # The same cart and time again (an input replayed with new offsets): the same message id.
    run(processor, table, book, [stream.event("u1", "Added To Cart", {"product": "Shoes", "cart_id": "c1",
                                                                        "price": 20}, START + 60_000)])
    batch = run(processor, table, book, [stream.wake("u1", DUE)])
    assert [n.message_id for n, _ in batch.notifications] == [message]  # the sender de-duplicates it
    assert totals(table)["abandoned-cart"]["sent"] == 1
    stored = StoredState.loads(table.data[b"u1"])
    assert message in stored.messages and peek_due(table.data[b"u1"])[0] == 0
    clock["now"] = DUE + HORIZON_MS + 1
    run(processor, table, book, [result(stream, "u1", "$notification_shown", "other-message", "")])
    assert message not in StoredState.loads(table.data[b"u1"]).messages


def _stream_of_two_users(stream: Stream) -> list[list[Record]]:
    """Batches: subscriptions and carts, the reminders, their results (some twice)."""
    first = []
    for user in ("u1", "u2"):
        first.append(stream.event(user, "$push_subscribe", SUB))
        first.append(stream.event(user, "Added To Cart", {"product": "P", "cart_id": user, "price": 20},
                                  START + 60_000))
    return [first, [stream.wake("u1", DUE), stream.wake("u2", DUE)]]


def _results(stream: Stream, table: FakeTable) -> list[Record]:
    out = []
    for user in ("u1", "u2"):
        (sent,) = StoredState.loads(table.data[user.encode()]).state.sent
        out += [result(stream, user, "$notification_sent", sent.message_id, SUB["endpoint"]),
                stream.event(user, "$notification_clicked", {"message": sent.message_id,
                                                            "campaign": "abandoned-cart"}, DUE + 2000),
                stream.event(user, "Charged", {"cart_id": user, "amount": 10}, DUE + 3000)]
    return out


@pytest.mark.parametrize("survived", ["nothing", "some totals", "totals", "totals and u1", "everything"])
def test_a_batch_read_again_after_a_crash_counts_once(processor, clock, survived):
    reference, book, stream = FakeTable(), StatsBook(), Stream()
    batches = _stream_of_two_users(stream)
    clock["now"] = DUE
    for batch in batches:
        run(processor, reference, book, batch)
    last = _results(stream, reference)
    run(processor, reference, book, last)
    expected = totals(reference)
    assert expected["abandoned-cart"]["conversions.click"] == 2

    table, book, stream = FakeTable(), StatsBook(), Stream()
    for batch in _stream_of_two_users(stream):
        run(processor, table, book, batch)
    last = _results(stream, table)
    # The last batch, cut by a crash: its writes are a prefix of (totals, states).
    before = dict(table.data)
    batch = processor.process(last, table.load)
    write_stats(book, table, batch.moves, last)
    written = {k: v for k, v in table.data.items() if v != before.get(k)}
    table.data = dict(before)
    if survived == "some totals":  # the index, not the campaign's totals
        table.data[index_key(0)] = written.get(index_key(0), before.get(index_key(0)))
    if survived in ("totals", "totals and u1", "everything"):
        table.data.update(written)
    if survived in ("totals and u1", "everything"):
        table.save_states(batch, only=None if survived == "everything" else {"u1"})
    # A new owner reads the partition again from the last applied offset.
    book = StatsBook()
    run(processor, table, book, last)
    assert totals(table) == expected


def test_partitions_keep_their_own_totals_and_the_answer_sums_one_per_partition(processor, clock):
    table, book = FakeTable(), StatsBook()
    streams = [Stream(0), Stream(1)]
    run(processor, table, book, [streams[0].event("a", "$push_subscribe", SUB),
                                 streams[1].event("b", "$push_subscribe", SUB)])
    run(processor, table, book, [s.event(u, "Added To Cart", {"cart_id": u, "price": 20}, START + 60_000)
                                 for s, u in zip(streams, "ab")])
    clock["now"] = DUE
    run(processor, table, book, [s.wake(u, DUE) for s, u in zip(streams, "ab")])
    for partition in (0, 1):
        stored = orjson.loads(table.data[totals_key(partition, "abandoned-cart")])
        assert stored["stats"] == {"qualified": 1, "sent": 1} and stored["through"] == 2
        # The day's chart buckets: an entry of their own, folded back by the answer.
        hour, day = f"hour.sent.{DUE // 3_600_000}", f"day.sent.{DUE // 86_400_000}"
        buckets = orjson.loads(table.data[totals_key(partition, f"abandoned-cart@{DUE // 86_400_000}")])
        assert buckets["stats"] == {hour: 1, day: 1} and buckets["through"] == 2
        assert orjson.loads(table.data[index_key(partition)]) == ["abandoned-cart", f"abandoned-cart@{DUE // 86_400_000}"]
    assert totals(table, (0, 1)) == {"abandoned-cart": {"qualified": 2, "sent": 2, hour: 2, day: 2}}
    ask = Record(None, encode_request("q", "other")[0], encode_request("q", "other")[1], START, 0, 9, "events", Ref())
    assert is_request(ask.headers)
    assert book.answer(table, [ask]) == [{"request": "q", "partition": 0, "stats": {}}]


def test_stored_state_keeps_its_messages_in_the_header_line():
    stored = StoredState(UserState("u1"), 3, 7, {"m1": ["c", 1, START, ["ab"], []]})
    raw = stored.dumps()
    assert raw.count(b"\n") == 1 and raw.startswith(b"3 7 - {")
    back = StoredState.loads(raw)
    assert (back.partition, back.offset, back.messages) == (3, 7, stored.messages)
    assert peek_due(raw) == (3, None)
    assert StoredState.loads(StoredState(UserState("u2"), 1, 2).dumps()).messages == {}


def test_a_user_remembers_at_most_max_messages_the_oldest_forgotten_first():
    from engine.agents.outcomes import MAX_MESSAGES, remember
    from engine.core import Notify

    messages: dict = {}
    for i in range(MAX_MESSAGES + 3):
        assert remember(messages, Notify(f"m{i}", "c", "u1", START, {}, (), 60), START + i)
    assert len(messages) == MAX_MESSAGES and "m0" not in messages and f"m{MAX_MESSAGES + 2}" in messages
    assert not remember(messages, Notify("m10", "c", "u1", START, {}, (), 60), START)  # still remembered


def test_chart_buckets_are_kept_per_day_dropped_after_the_window_and_sum_to_one_stores():
    from engine.agents.users import Move
    from engine.shell.series import DAY_MS, DAYS_KEPT, series, with_series

    table, book, offset = FakeTable(), StatsBook(), 0
    one_store: dict = {}
    # Partition 0 stops sending early; partition 1 clicks for longer than the window.
    plan = [(0, "sent", day) for day in range(0, 30, 3)] + [(1, "clicked", day) for day in range(0, DAYS_KEPT + 20, 7)]
    for partition, stat, day in plan:
        offset += 1
        at = START + day * DAY_MS
        keys = with_series(stat, at)
        write_stats(book, table, [Move(partition, offset, "cart", key, 1) for key in keys],
                    [Record(None, b"", [], at, partition, offset, "events", Ref())])
        for key in keys:
            one_store[key] = one_store.get(key, 0) + 1
    clicks = len(range(0, DAYS_KEPT + 20, 7))
    kept = [int(name.partition("@")[2]) for name in orjson.loads(table.data[index_key(1)]) if "@" in name]
    assert max(kept) - min(kept) < DAYS_KEPT and len(kept) < clicks  # the oldest days dropped ...
    stored = {key for key in table.data if b"cart@" in key}
    assert stored == {totals_key(p, name) for p in (0, 1) for name in orjson.loads(table.data[index_key(p)])
                      if "@" in name}  # ... from the table too
    summed = totals(table, (0, 1))["cart"]
    assert summed["sent"] == 10 and summed["clicked"] == clicks
    assert series(summed) == series(one_store) and series(summed)["day"]
