"""The Faust and aiokafka internals the Kafka worker relies on (engine/agents/faust_private.py)
hold in the installed versions, and a change to any of them fails loudly, naming it.

The first test checks each declared internal against the installed packages: after an
upgrade, a failure here names the attribute to look at before the no-skip guarantee can
be trusted again. The others show that the check does catch each kind of change, and
that the adapter's functions work on real Faust objects (no broker needed)."""

from __future__ import annotations

import asyncio
import contextvars
from contextvars import ContextVar
from typing import List, MutableMapping

import faust
import pytest
from faust.types import TP
from faust.types.tuples import Message

from engine.agents import faust_private, kafka_admin
from engine.agents.faust_private import FaustInternalsChanged, Internal
from engine.agents.internals import ATTRIBUTE, COROUTINE, METHOD, problems
from engine.agents.table import scan_users


@pytest.mark.parametrize("internal", faust_private.INTERNALS, ids=lambda internal: internal.label)
def test_each_internal_holds_in_the_installed_packages(internal):
    assert problems(internal) == [], internal.why


def test_every_declared_internal_says_why_it_is_needed():
    assert all(internal.why for internal in faust_private.INTERNALS)


# --- the check catches each kind of change -------------------------------------------

HERE = __name__
current: ContextVar = ContextVar("current")
not_a_contextvar = {}


class Upstream:
    """Stands for an upstream class in one version."""

    _offsets: MutableMapping[str, List[int]]

    def __init__(self):
        self._wait_ms = 1500

    def _new_offset(self, tp):
        return None

    async def _commit(self, offsets):
        return True

    def commit(self):
        return self._new_offset("tp")

    def fetch(self):
        return "no wait any more"


def _problem(internal: Internal) -> str:
    found = problems(internal)
    assert len(found) == 1, found
    assert found[0].startswith(f"{HERE}.Upstream.{internal.name}:") or found[0].startswith(f"{HERE}.{internal.name}:")
    return found[0]


def test_a_declaration_that_matches_has_no_problem():
    owner = f"{HERE}:Upstream"
    assert problems(Internal(owner, "_new_offset", METHOD, params=("self", "tp"), read_by=(f"{owner}.commit",))) == []
    assert problems(Internal(owner, "_commit", COROUTINE, params=("self", "offsets"))) == []
    assert problems(Internal(owner, "_offsets", ATTRIBUTE, annotation=MutableMapping[str, List[int]])) == []
    assert problems(Internal(owner, "_wait_ms", ATTRIBUTE, set_by=(f"{owner}.__init__",))) == []
    assert problems(Internal(HERE, "current", ATTRIBUTE, annotation=ContextVar)) == []


def test_a_missing_method_is_named():
    assert "missing" in _problem(Internal(f"{HERE}:Upstream", "_gone", METHOD))


def test_changed_parameters_are_named():
    message = _problem(Internal(f"{HERE}:Upstream", "_new_offset", METHOD, params=("self", "tp", "strict")))
    assert "('self', 'tp')" in message


def test_a_method_that_stopped_being_a_coroutine_is_named():
    assert "coroutine" in _problem(Internal(f"{HERE}:Upstream", "_new_offset", COROUTINE))
    assert "coroutine" in _problem(Internal(f"{HERE}:Upstream", "_commit", METHOD))


def test_a_changed_declared_type_is_named():
    message = _problem(Internal(f"{HERE}:Upstream", "_offsets", ATTRIBUTE, annotation=MutableMapping[str, int]))
    assert "declared as" in message


def test_an_attribute_no_longer_declared_is_named():
    message = _problem(Internal(f"{HERE}:Upstream", "_acked", ATTRIBUTE, annotation=MutableMapping[str, int]))
    assert "no longer declared" in message
    assert "missing" in _problem(Internal(f"{HERE}:Upstream", "_acked", ATTRIBUTE))


def test_an_attribute_no_longer_assigned_is_named():
    message = _problem(Internal(f"{HERE}:Upstream", "_gap", ATTRIBUTE, set_by=(f"{HERE}:Upstream.__init__",)))
    assert "no longer assigns it" in message


def test_an_internal_upstream_stopped_using_is_named():
    # A replaced method nobody calls any more would leave the guarantee silently off.
    message = _problem(Internal(f"{HERE}:Upstream", "_wait_ms", ATTRIBUTE, set_by=(f"{HERE}:Upstream.__init__",),
                                read_by=(f"{HERE}:Upstream.fetch",)))
    assert "Upstream.fetch no longer uses it" in message


def test_a_module_attribute_of_another_type_or_gone_is_named():
    assert "expected a ContextVar" in _problem(Internal(HERE, "not_a_contextvar", ATTRIBUTE, annotation=ContextVar))
    assert "missing" in _problem(Internal(HERE, "_current_event", ATTRIBUTE, annotation=ContextVar))


def test_a_gone_owner_is_named():
    found = problems(Internal("faust.no_such_module:Consumer", "_acked", ATTRIBUTE))
    assert len(found) == 1 and found[0].startswith("faust.no_such_module.Consumer._acked:")


def test_verify_raises_naming_every_changed_internal():
    changed = [Internal(f"{HERE}:Upstream", "_gone", METHOD), Internal(HERE, "_also_gone", ATTRIBUTE)]
    with pytest.raises(FaustInternalsChanged) as raised:
        faust_private.verify(changed)
    assert f"{HERE}.Upstream._gone" in str(raised.value) and f"{HERE}._also_gone" in str(raised.value)


def test_a_worker_is_not_built_when_an_internal_changed(monkeypatch, tmp_path):
    from engine.agents.app import create_runtime
    from engine.agents.settings import WorkerSettings

    gone = Internal("faust.transport.consumer:Consumer", "_acked_offsets", ATTRIBUTE)
    monkeypatch.setattr(faust_private, "INTERNALS", (*faust_private.INTERNALS, gone))
    faust_private.verify_installed.cache_clear()
    try:
        with pytest.raises(FaustInternalsChanged, match=r"faust\.transport\.consumer\.Consumer\._acked_offsets"):
            create_runtime(WorkerSettings(campaigns=[], data_dir=tmp_path, metrics_port=None, store="memory"))
    finally:
        faust_private.verify_installed.cache_clear()


# --- the adapter on real Faust objects -----------------------------------------------


@pytest.fixture
def app(tmp_path):
    # Nothing connects: a consumer and a store are only built, never started.
    return faust.App(f"test-private-{tmp_path.name}", broker="kafka://127.0.0.1:1", store="rocksdb://",
                     datadir=str(tmp_path), web_enabled=False, autodiscover=False)


TOPIC = "events"
TPX = TP(TOPIC, 0)


def _ack(consumer, *offsets: int) -> None:
    for offset in offsets:
        consumer.ack(Message(TOPIC, 0, offset, 0.0, None, None, b"k", b"v", None, tp=TPX))


def _consumer(app):
    consumer = app.consumer
    app.topics.acks_enabled_for = lambda topic: True  # as for a topic an agent reads
    return consumer


def test_upstream_still_commits_past_an_offset_never_acknowledged(app):
    # faust-streaming #606: the reason for strict_new_offset. If this fails, upstream
    # changed its commit rule: recheck whether the replacement is still needed.
    consumer = _consumer(app)
    consumer._committed_offset[TPX] = 10
    _ack(consumer, 11, 12)
    assert consumer._filter_committable_offsets([TPX]) == {TPX: 13}


def test_taken_over_the_consumer_commits_only_over_acknowledged_offsets(app):
    consumer = _consumer(app)

    async def position():
        pass

    faust_private.take_over_positions(app, position)
    wrapped = consumer.perform_seek
    faust_private.take_over_positions(app, position)
    assert consumer.perform_seek is wrapped  # once per consumer

    consumer._committed_offset[TPX] = 10
    _ack(consumer, 11, 12)
    assert consumer._filter_committable_offsets([TPX]) == {}  # 10 is missing
    _ack(consumer, 10)
    assert consumer._filter_committable_offsets([TPX]) == {TPX: 13}


def test_reset_commit_base_drops_the_older_reads_acknowledgements(app):
    consumer = _consumer(app)
    faust_private.take_over_positions(app, lambda: asyncio.sleep(0))
    consumer._committed_offset[TPX] = 10
    _ack(consumer, 10, 11)
    faust_private.reset_commit_base(consumer, TPX, 10)
    assert faust_private.committed_offset(consumer, TPX) == 10
    assert consumer._filter_committable_offsets([TPX]) == {}  # read again: acknowledged again first
    _ack(consumer, 10)
    assert consumer._filter_committable_offsets([TPX]) == {TPX: 11}


def test_a_record_left_unacknowledged_is_never_committed(app):
    consumer = _consumer(app)
    faust_private.take_over_positions(app, lambda: asyncio.sleep(0))
    consumer._committed_offset[TPX] = 0
    skipped = Message(TOPIC, 0, 0, 0.0, None, None, b"k", b"v", None, tp=TPX)
    faust_private.leave_unacknowledged(skipped)
    assert consumer.ack(skipped) is False  # Faust's own ack, when the stream is done with it
    _ack(consumer, 1)
    assert consumer._filter_committable_offsets([TPX]) == {}


def test_the_event_set_is_the_one_faust_reads():
    event = Message(TOPIC, 3, 7, 0.0, None, None, b"k", b"v", None)

    def inside():
        faust_private.set_current_event(event)
        return faust.current_event()

    assert contextvars.copy_context().run(inside) is event


def test_the_fetch_wait_needs_a_started_consumer(app):
    with pytest.raises(FaustInternalsChanged, match="AIOKafkaConsumerThread._consumer"):
        faust_private.shorten_fetch_wait(app, 50)


def test_only_the_asked_partitions_of_a_real_rocksdb_store_are_read(app):
    table = app.Table("users", default=None, partitions=2, key_type=bytes, value_type=bytes)
    store = table.data
    for partition, user in ((0, b"u0"), (1, b"u1")):
        db = store._db_for_partition(partition)  # opened as Faust opens it
        db[user] = b"0 1 -\n{}"
        store.set_persisted_offset(TP(table.changelog_topic_name, partition), 41)  # Faust's own entry
    assert asyncio.run(scan_users(table, {1})) == [("u1", b"0 1 -\n{}")]
    assert faust_private.partition_dbs(store, {5}) == []
    assert faust_private.partition_dbs({}, {0}) is None  # not RocksDB: the caller copies it at once


def test_after_faust_seeks_pushcast_positions_then_the_changelogs_are_sought(app, monkeypatch):
    calls = []

    async def faust_seek():  # stands for Faust's own: it needs a broker
        calls.append("faust")

    async def position():
        calls.append("pushcast")

    async def reseek(app_):
        calls.append("changelogs")

    app.consumer.perform_seek = faust_seek
    monkeypatch.setattr(faust_private, "reseek_changelogs", reseek)
    faust_private.take_over_positions(app, position)
    asyncio.run(app.consumer.perform_seek())
    assert calls == ["faust", "pushcast", "changelogs"]


class SeekingConsumer:
    """Faust's consumer as the adapter seeks it: aiokafka's seek, run by its thread."""

    def __init__(self, assigned):
        self.assigned, self.sought, self._read_offset = assigned, {}, {}
        self._thread = self
        self.threads = []

    def assignment(self):
        return self.assigned

    def _ensure_consumer(self):
        return self

    async def call_thread(self, method, *args):
        self.threads.append(method.__name__)
        return method(*args)

    def seek(self, tp, offset):
        self.sought[tp] = offset


def test_a_seek_runs_in_the_consumer_thread_and_sets_the_read_offset():
    consumer = SeekingConsumer({TP("e", 0)})
    asyncio.run(faust_private.seek_in_consumer_thread(consumer, TP("e", 0), 7))
    assert consumer.threads == ["seek"] and consumer.sought == {TP("e", 0): 7}
    assert consumer._read_offset == {TP("e", 0): 7}


def _recovering_app(in_recovery: bool, consumer):
    from types import SimpleNamespace

    recovery = SimpleNamespace(standby_offsets={TP("c", 0): 5, TP("c", 9): 3}, active_offsets={TP("c", 1): -1})
    return SimpleNamespace(tables=SimpleNamespace(recovery=recovery), consumer=consumer, in_recovery=in_recovery)


def test_changelog_partitions_are_read_again_after_the_last_record_read():
    consumer = SeekingConsumer({TP("c", 0), TP("c", 1)})
    asyncio.run(faust_private.reseek_changelogs(_recovering_app(True, consumer)))
    assert consumer.sought == {TP("c", 0): 6, TP("c", 1): 0}  # c/9 is not assigned here
    consumer = SeekingConsumer({TP("c", 0), TP("c", 1)})
    asyncio.run(faust_private.reseek_changelogs(_recovering_app(False, consumer)))
    assert consumer.sought == {TP("c", 0): 6}  # active ones only while recovering


class RecordingAdmin:
    """Stands for a started aiokafka admin client: answers every request with one topic."""

    def __init__(self):
        self.requests = []

    async def _send_request(self, request, node_id=None):
        from types import SimpleNamespace

        self.requests.append(request)
        return SimpleNamespace(to_object=lambda: {"topics": [{"topic": "t", "error_code": 0, "partitions": []}]})


def test_topics_are_described_without_letting_the_broker_create_them():
    from aiokafka.protocol.metadata import MetadataRequest

    admin = RecordingAdmin()
    described = asyncio.run(kafka_admin.describe_topics_uncreated(admin, ["t"]))
    assert described == [{"topic": "t", "error_code": 0, "partitions": []}]
    (request,) = admin.requests
    assert isinstance(request, MetadataRequest)
    assert request._topics == ["t"] and request._allow_auto_topic_creation is False


def _drained(consumer, offsets: list[int]) -> list[int]:
    """The offsets Faust's fetch loop hands the agents when a fetch returns `offsets` of
    TPX (its `_drain_messages`, the loop each worker runs, over a fetch made here)."""
    delivered: list[int] = []

    class Fetcher:
        _stopped = asyncio.Event()

    async def getmany(timeout):
        for offset in offsets:
            yield TPX, Message(TOPIC, 0, offset, 0.0, None, None, b"k", b"v", None, tp=TPX)
        Fetcher._stopped.set()

    async def callback(message):
        delivered.append(message.offset)

    consumer.getmany, consumer.callback = getmany, callback
    consumer.loop.run_until_complete(consumer._drain_messages(Fetcher()))  # the loop its events wait in
    return delivered


def test_upstream_drops_a_record_fetched_again_below_its_read_offset(app):
    # Records fetched before a seek back move the read offset past the records read again
    # after it: the reason for deliver_every_read. If this fails, upstream changed it.
    assert _drained(_consumer(app), [7, 8, 5, 6, 7, 8, 9]) == [7, 8, 8, 9]


def test_every_record_of_a_guarded_topic_is_delivered(app):
    consumer = _consumer(app)
    faust_private.deliver_every_read(consumer, [TOPIC])
    assert _drained(consumer, [7, 8, 5, 6, 7, 8, 9]) == [7, 8, 5, 6, 7, 8, 9]
    consumer._read_offset[TP("other", 0)] = 4
    assert consumer._read_offset[TP("other", 0)] == 4 and consumer._read_offset[TP("other", 1)] is None


def test_offsets_a_commit_did_not_make_are_reported(app):
    consumer = _consumer(app)
    made, missed = [], []
    other = TP(TOPIC, 1)

    async def commit(offsets):  # Faust's, past the consumer thread: it commits what it holds
        made.append(offsets)
        return refused is False

    consumer._commit = commit
    consumer.assignment = lambda: {TPX}
    faust_private.report_commits_not_made(consumer, missed.append)
    refused = False
    assert consumer.loop.run_until_complete(consumer._commit({TPX: 5, other: 7})) is True
    assert missed == [{other: 7}]  # left out: not held then
    refused = True
    assert consumer.loop.run_until_complete(consumer._commit({TPX: 9})) is False
    assert missed == [{other: 7}, {TPX: 9}] and made == [{TPX: 5, other: 7}, {TPX: 9}]
