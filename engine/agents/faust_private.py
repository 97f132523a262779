"""Every use the Kafka worker makes of faust-streaming's and aiokafka's private internals.

The worker's no-skip guarantee (a record is never committed past an offset no agent
applied; upstream this is faust-streaming issue #606, open) rests on mending Faust where
it has no public API: its commit bookkeeping, its seek after a rebalance, the event a
table write belongs to. Each such access is one small function here, saying why (or in
faust_take.py, faust_flow.py and kafka_admin.py, whose declarations join these); the rest
of the worker calls these and never touches an underscore name of Faust or aiokafka.

`INTERNALS` declares what these functions rely on (written for faust-streaming 0.15.3 and
aiokafka 0.14). `verify_installed()` checks it against the installed packages when a
runtime is built, and tests/unit/agents/test_faust_private.py on every run, so an upgrade that
drops or reshapes one fails loudly, naming it, instead of silently losing the guarantee.
"""

from __future__ import annotations

import functools
import typing
from itertools import chain
import weakref
from contextvars import ContextVar
from typing import Any, Awaitable, Callable, Iterable, List, MutableMapping, Optional, Set

import aiokafka
import faust.streams
from faust.stores.rocksdb import Store as RocksDBStore
from faust.transport.consumer import ConsumerThread
from faust.types import TP
from intervaltree import IntervalTree
from rocksdict import ReadOptions, Rdict, WriteBatch

from engine.agents import faust_flow, faust_take, kafka_admin
from engine.agents.internals import ATTRIBUTE, COROUTINE, METHOD, Internal, problems
from engine.rules.errors import PushcastError

_CONSUMER = "faust.transport.consumer:Consumer"
_RECOVERY = "faust.tables.recovery:Recovery"
_FETCHER = "aiokafka.consumer.fetcher:Fetcher"

INTERNALS: tuple[Internal, ...] = (
    # Faust's commit bookkeeping: what it may commit, per partition.
    Internal(_CONSUMER, "_committed_offset", ATTRIBUTE, annotation=MutableMapping[TP, Optional[int]],
             read_by=(f"{_CONSUMER}._should_commit", f"{_CONSUMER}.ack"),
             why="the base of commits: read after Faust's seek, set at pushcast's own seek"),
    Internal(_CONSUMER, "_acked", ATTRIBUTE, annotation=MutableMapping[TP, List[int]],
             read_by=(f"{_CONSUMER}.ack", f"{_CONSUMER}._filter_tps_with_pending_acks"),
             why="acknowledged offsets: read by the strict commit, dropped at pushcast's seek"),
    Internal(_CONSUMER, "_acked_index", ATTRIBUTE, annotation=MutableMapping[TP, Set[int]],
             read_by=(f"{_CONSUMER}.ack",),
             why="the set beside _acked, kept in step with it"),
    Internal(_CONSUMER, "_gap", ATTRIBUTE, annotation=MutableMapping[TP, IntervalTree],
             read_by=(f"{_CONSUMER}._add_gap",),
             why="offset ranges Faust would commit over as gaps: dropped at pushcast's seek"),
    Internal(_CONSUMER, "_new_offset", METHOD, params=("self", "tp"),
             read_by=(f"{_CONSUMER}._filter_committable_offsets",),
             why="replaced: Faust's commits over gaps and a one-record hole (issue #606)"),
    Internal(_CONSUMER, "perform_seek", COROUTINE, params=("self",),
             read_by=(f"{_CONSUMER}.getmany", f"{_RECOVERY}._resume_streams", f"{_RECOVERY}.on_recovery_completed"),
             why="wrapped: after Faust seeks to committed offsets, pushcast seeks to applied ones"),
    Internal("faust.transport.drivers.aiokafka:Consumer", "_commit", COROUTINE, params=("self", "offsets"),
             read_by=(f"{_CONSUMER}._commit_offsets",),
             why="commits given offsets (the public commit only commits acknowledged ones); wrapped: "
                 "what it did not commit is committed again"),
    Internal("faust.types.tuples:Message", "acked", ATTRIBUTE, read_by=(f"{_CONSUMER}.ack",),
             why="set on a record pushcast skipped, so that Faust never acknowledges it"),
    # Table writes: the event names the partition (store and changelog).
    Internal("faust.streams", "_current_event", ATTRIBUTE, annotation=ContextVar,
             read_by=("faust.streams:current_event",),
             why="set per record: a batch spans partitions, a write goes to its record's"),
    Internal("faust.streams", "current_event", METHOD, params=(),
             read_by=("faust.stores.rocksdb:Store._set", "faust.tables.base:Collection.partition_for_key"),
             why="how the store and the changelog find the partition of a write"),
    # The RocksDB store's partitions (reading a few of them in slices, writing a batch).
    Internal("faust.stores.rocksdb:Store", "_dbs", ATTRIBUTE, annotation=MutableMapping[int, Rdict],
             why="one partition's database, to read only the partitions asked for"),
    Internal("faust.stores.rocksdb:Store", "_db_for_partition", METHOD, params=("self", "partition"),
             read_by=("faust.stores.rocksdb:Store.apply_changelog_batch",),
             why="one partition's database (opened if not yet), to read and write a batch's keys"),
    # The aiokafka producer in Faust's, handed a batch's changelog records per partition.
    Internal("faust.transport.drivers.aiokafka:Producer", "_producer", ATTRIBUTE,
             annotation=Optional[aiokafka.AIOKafkaProducer],
             set_by=("faust.transport.drivers.aiokafka:Producer.on_start",),
             why="the aiokafka producer, to hand it a batch's changelog records"),
    # Table recovery: the changelog positions read so far.
    Internal(_RECOVERY, "active_offsets", ATTRIBUTE, annotation=typing.Counter[TP],
             why="where reading an active changelog partition got (to seek back after a drop)"),
    Internal(_RECOVERY, "standby_offsets", ATTRIBUTE, annotation=typing.Counter[TP],
             why="likewise for standby changelog partitions"),
    # A seek made in the consumer's own thread (Faust's seek runs aiokafka's from the
    # agent's thread, racing the fetcher: KeyError in Fetcher.fetched_records, and the
    # worker crashes).
    Internal(_CONSUMER, "_read_offset", ATTRIBUTE, annotation=MutableMapping[TP, Optional[int]],
             read_by=(f"{_CONSUMER}._drain_messages",),
             why="where Faust reads a partition from next (its seek sets it); replaced, none for guarded topics"),
    Internal("faust.transport.drivers.aiokafka:AIOKafkaConsumerThread", "_ensure_consumer", METHOD,
             params=("self",), why="the started aiokafka consumer, to seek it in its own thread"),
    # The aiokafka fetcher Faust builds, for its fetch wait.
    Internal("faust.transport.consumer:ThreadDelegateConsumer", "_thread", ATTRIBUTE, annotation=ConsumerThread,
             why="the thread holding Faust's aiokafka consumer"),
    Internal("faust.transport.drivers.aiokafka:AIOKafkaConsumerThread", "_consumer", ATTRIBUTE,
             annotation=Optional[aiokafka.AIOKafkaConsumer], why="the aiokafka consumer"),
    Internal("aiokafka.consumer.consumer:AIOKafkaConsumer", "_fetcher", ATTRIBUTE,
             set_by=("aiokafka.consumer.consumer:AIOKafkaConsumer.start",), why="its fetcher"),
    Internal(_FETCHER, "_fetch_max_wait_ms", ATTRIBUTE, set_by=(f"{_FETCHER}.__init__",),
             read_by=(f"{_FETCHER}._get_actions_per_node",),
             why="the wait of each fetch request, read per request (Faust fixes it at 1.5 s)"),
) + faust_take.INTERNALS + faust_flow.INTERNALS + kafka_admin.INTERNALS  # (faust_take.py, faust_flow.py, kafka_admin.py)


class FaustInternalsChanged(PushcastError):
    """The installed faust-streaming or aiokafka lacks an internal pushcast relies on."""


def verify(internals: Iterable[Internal]) -> None:
    """Raise `FaustInternalsChanged` naming each of `internals` the installed packages lack
    or have reshaped."""
    found = [problem for internal in internals for problem in problems(internal)]
    if found:
        raise FaustInternalsChanged(
            "the Kafka worker relies on faust-streaming/aiokafka internals that changed "
            "(see engine/agents/faust_private.py):\n  " + "\n  ".join(found))


@functools.cache
def verify_installed() -> None:
    """`verify(INTERNALS)`, once per process (a worker checks when it builds its runtime)."""
    verify(INTERNALS)


def _require(owner: Any, name: str) -> Any:
    """`owner.name`, or a `FaustInternalsChanged` naming it."""
    try:
        return getattr(owner, name)
    except AttributeError:
        raise FaustInternalsChanged(f"{type(owner).__module__}.{type(owner).__qualname__}.{name}: missing") from None


# --- table writes ---------------------------------------------------------------------


def set_current_event(event) -> None:
    """Make `event` the one Faust's table writes belong to. Faust picks a table's partition
    (RocksDB store and changelog) from the current event, which its stream sets to the
    last record iterated; a batch holds records of several partitions, so each write
    names its own record. Faust has no public setter."""
    faust.streams._current_event.set(weakref.ref(event))  # looked up here: a missing one is named by verify()


def partition_dbs(store, partitions: Iterable[int]) -> list | None:
    """The RocksDB databases of `store`'s `partitions` that are open here, a snapshot (the
    store opens more while it is read); None for a store that is not RocksDB. Faust only
    iterates all active partitions at once, from a generator over a dict that changes."""
    if not isinstance(store, RocksDBStore):
        return None
    wanted = set(partitions)
    return [db for partition, db in list(_require(store, "_dbs").items()) if partition in wanted]


def values_around(db: Rdict, start: bytes, skip: bytes) -> Iterable[bytes]:
    """The values of `db` (a partition's, raw mode) from the key `start` on, but the key
    `skip`'s: two iterators over the ranges on either side of it, made at once (each
    reads the database as it was when made; nothing writes in between on this thread),
    values only (no key objects made). Faust reads a database through `items()`."""
    below = ReadOptions()
    below.set_iterate_upper_bound(skip)
    return chain(db.values(from_key=start, read_opt=below), db.values(from_key=skip + b"\x00"))


def write_store_partition(store, partition: int, items: dict) -> None:
    """Write `items` ({key: value, None deletes}) into `store`'s `partition` at once: one
    RocksDB WriteBatch, as Faust's own changelog recovery writes (`apply_changelog_batch`).
    Faust's per-key write finds the partition from the current event, key by key. A memory
    store (one dict for every partition) takes them as they are."""
    if isinstance(store, RocksDBStore) and store.use_rocksdict:
        batch = WriteBatch(raw_mode=True)
        for key, value in items.items():
            if value is None:
                batch.delete(key)
            else:
                batch.put(key, value)
        store._db_for_partition(partition).write(batch)
        return
    for key, value in items.items():
        if value is None:
            store.pop(key, None)
        else:
            store[key] = value


def store_reader(store) -> Callable[[int, bytes], Optional[bytes]]:
    """`get(partition, key)`: a key's value straight from its partition's database. Faust's
    `table.get` finds the partition from the current event and reads twice (`in`, then
    `[]`), ~6% of a busy worker. A memory store is one dict for every partition."""
    if isinstance(store, RocksDBStore) and store.use_rocksdict:
        db_for_partition = store._db_for_partition
        return lambda partition, key: db_for_partition(partition).get(key)
    return lambda partition, key: store.get(key)


def kafka_producer(producer) -> aiokafka.AIOKafkaProducer:
    """The started aiokafka producer inside Faust's `app.producer`, for a batch's changelog
    records: Faust's `send` wraps each record in its own bookkeeping (sensors, headers)."""
    kafka = _require(producer, "_producer")
    if kafka is None:
        raise FaustInternalsChanged("faust.transport.drivers.aiokafka.Producer._producer: None once started")
    return kafka


# --- commits --------------------------------------------------------------------------


def committed_offset(consumer, tp) -> int | None:
    """The offset Faust counts commits of `tp` from: the committed one after its seek (None
    when unknown or 0), or the one pushcast's seek set. No public getter exists."""
    return consumer._committed_offset.get(tp)


async def seek_in_consumer_thread(consumer, tp, offset: int) -> None:
    """Faust's `Consumer.seek`, with aiokafka's seek run in the thread that owns the
    aiokafka consumer. Faust calls it from the agent's thread, where it can change the
    fetcher's buffered records while the consumer thread drains them; aiokafka then
    raises KeyError in `Fetcher.fetched_records` and the worker crashes."""
    thread = consumer._thread
    await thread.call_thread(thread._ensure_consumer().seek, tp, offset)
    consumer._read_offset[tp] = offset if offset else None


class _ReadOffsets(dict):
    """Faust's read offsets, none for the topics pushcast guards (see `deliver_every_read`)."""

    def __init__(self, topics: frozenset):
        super().__init__()
        self.topics = topics

    def __missing__(self, tp) -> None:
        return None

    def __getitem__(self, tp) -> int | None:
        return None if tp.topic in self.topics else super().__getitem__(tp)


def deliver_every_read(consumer, topics: Iterable[str]) -> None:
    """Make Faust deliver every record it fetches of `topics`; their offset guards
    (offsets.py) drop what was delivered already. Faust drops a record below the
    partition's read offset, which its fetch loop sets to each record it delivers, also
    to one fetched before a seek back: the records read again after pushcast's seek were
    dropped up to there, and the guard found the same hole again. Faust's fetch loop binds
    the mapping when it starts: call this before the app starts."""
    consumer._read_offset = _ReadOffsets(frozenset(topics))


def reset_commit_base(consumer, tp, offset: int) -> None:
    """After pushcast seeks `tp` to `offset`: make it the base of commits, and drop the
    acknowledgements and gaps Faust kept for `tp`. They belong to an older read, and
    Faust would otherwise commit over them (its seek does not drop them)."""
    consumer._committed_offset[tp] = offset
    consumer._acked.pop(tp, None)
    consumer._acked_index.pop(tp, None)
    consumer._gap.pop(tp, None)


async def commit_offsets(consumer, offsets: dict) -> bool:
    """Commit `offsets` ({TP: offset}) as they are. Faust's public `commit` only commits
    what was acknowledged; a partition applied further than committed (a worker died
    before its commit) has nothing acknowledged yet."""
    return await consumer._commit(offsets)


def report_commits_not_made(consumer, not_made: Callable[[dict], None]) -> None:
    """Call `not_made(offsets)` with the offsets ({TP: offset}) a commit did not make.
    Faust's `_commit` leaves out the partitions the consumer does not hold at that moment
    and returns False when Kafka refuses ("already rebalanced"); either way Faust counts
    the offsets committed and commits nothing more until a later record of the partition
    is acknowledged. A partition with no later record kept its lag (CI: 30 records of a
    partition applied, never committed)."""
    commit = consumer._commit

    async def commit_reporting(offsets) -> bool:
        held = consumer.assignment()
        done = await commit(offsets)
        missed = {tp: offset for tp, offset in offsets.items() if not done or tp not in held}
        if missed:
            not_made(missed)
        return done

    consumer._commit = commit_reporting


def leave_unacknowledged(message) -> None:
    """Mark a record pushcast skipped as done with, so that Faust never acknowledges it
    (its `ack` does nothing for a message already `acked`) and never commits past it."""
    message.acked = True


def strict_new_offset(consumer) -> Callable[[Any], int | None]:
    """A replacement for Faust's `Consumer._new_offset(tp)`, the offset a commit moves to.
    Faust's counts gaps in read offsets as acknowledged, accepts a one-record hole after
    the committed offset, and any hole when that is unknown (issue #606). This one: the
    end of the run of acknowledged offsets that starts exactly at the committed offset."""

    def new_offset(tp) -> int | None:
        committed = consumer._committed_offset.get(tp)
        acked = consumer._acked.get(tp)
        if committed is None or not acked:
            return None
        acked.sort()
        stale = 0
        while stale < len(acked) and acked[stale] < committed:
            stale += 1
        end = committed
        for offset in acked[stale:]:
            if offset != end:
                break
            end += 1
        if end == committed:
            if stale:
                consumer._acked_index[tp].difference_update(acked[:stale])
                del acked[:stale]
            return None
        done = end - committed + stale
        consumer._acked_index[tp].difference_update(acked[:done])
        del acked[:done]
        return end

    return new_offset


# --- positions after a rebalance ------------------------------------------------------

_taken_over: weakref.WeakSet = weakref.WeakSet()


def take_over_positions(app, position: Callable[[], Awaitable[None]]) -> None:
    """Faust seeks every partition to its committed offset after a rebalance, after table
    recovery, and when it fetches while paused (`perform_seek`); after each, `position`
    seeks pushcast's own partitions to where it reads them from, and the changelog
    partitions being read to where their reading got (`reseek_changelogs`). Commits then
    follow `strict_new_offset`. Idempotent per consumer."""
    consumer = app.consumer
    if consumer in _taken_over:
        return
    original = consumer.perform_seek

    async def perform_seek() -> None:
        await original()
        await position()
        await reseek_changelogs(app)

    consumer.perform_seek = perform_seek
    consumer._new_offset = strict_new_offset(consumer)
    _taken_over.add(consumer)


async def reseek_changelogs(app) -> None:
    """Faust drops a fetched batch whose flow was stopped meanwhile, then seeks the stream
    partitions back to their committed offsets but not the changelog partitions it is
    reading: their dropped records never came again and table recovery waited forever
    ("No event received for active tp"). Seek those back to the record after the last
    one read."""
    recovery = app.tables.recovery
    consumer = app.consumer
    assigned = consumer.assignment()
    reading = [recovery.standby_offsets]
    if app.in_recovery:
        reading.append(recovery.active_offsets)
    for offsets in reading:
        for tp, offset in list(offsets.items()):
            if tp in assigned:
                await seek_in_consumer_thread(consumer, tp, max(offset, -1) + 1)


def shorten_fetch_wait(app, wait_ms: int) -> None:
    """Faust fixes aiokafka's fetch wait at 1.5 s (no setting). A fetch in flight that left
    out a partition Faust had paused is only followed by the next after that wait, so a
    record arriving then waits too: at a few hundred events/s, trigger-to-send went from
    ~60 ms to ~2.5 s in one run in two. A short wait bounds that delay. Call once Faust's
    consumer has started (its aiokafka consumer and fetcher exist from then)."""
    kafka_consumer = _require(_require(app.consumer, "_thread"), "_consumer")
    if kafka_consumer is None:
        raise FaustInternalsChanged("faust.transport.drivers.aiokafka.AIOKafkaConsumerThread._consumer: "
                                    "None after partitions were assigned")
    fetcher = _require(kafka_consumer, "_fetcher")
    _require(fetcher, "_fetch_max_wait_ms")
    fetcher._fetch_max_wait_ms = wait_ms
