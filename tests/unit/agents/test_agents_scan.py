"""Reading the state table for reach and scheduled runs: the same users as a plain read,
and the event loop keeps running while a large RocksDB store is read."""

from __future__ import annotations

import asyncio

from faust.stores.rocksdb import RocksDBOptions, Store as RocksDBStore

from engine.agents.table import APPLIED_PREFIX, STATS_PREFIX, scan_users, user_items, user_values


class FakeRocksStore(RocksDBStore):
    """Faust's RocksDB store with dicts for databases: what `scan_users` reads of it (its
    partitions' databases, `_dbs`) and what `user_items` reads (`items()`)."""

    def __init__(self, dbs: list[dict[bytes, bytes]]):  # a Faust service needs an app: not started
        self.dbs = dbs
        self._dbs = dict(enumerate(dbs))  # by partition

    def items(self):
        for db in self.dbs:
            for key, value in db.items():
                if key != self.offset_key:
                    yield key, value


class FakeTable:
    def __init__(self, data):
        self.data = data


def _dbs() -> list[dict[bytes, bytes]]:
    first = {f"u{i}".encode(): b"0 %d -\n{}" % i for i in range(7)}
    first[APPLIED_PREFIX + b"0"] = b"6"
    first[RocksDBStore.offset_key] = b"41"  # Faust's own entry: the changelog position
    second = {f"v{i}".encode(): b"1 %d -\n{}" % i for i in range(5)}
    return [first, second]


def test_a_rocksdb_store_is_read_to_the_same_users_as_a_plain_read():
    table = FakeTable(FakeRocksStore(_dbs()))
    scanned = asyncio.run(scan_users(table, {0, 1}, slice_size=3))
    assert scanned == user_items(table)
    assert len(scanned) == 12 and not any(user.startswith("\x00") for user, _ in scanned)


def test_only_the_asked_partitions_are_read():
    table = FakeTable(FakeRocksStore(_dbs()))
    scanned = asyncio.run(scan_users(table, {1}))
    assert [user for user, _ in scanned] == [f"v{i}" for i in range(5)]


def test_the_event_loop_runs_between_slices():
    table = FakeTable(FakeRocksStore(_dbs()))
    ticks = []

    async def main():
        async def other_work():
            while True:
                ticks.append(1)
                await asyncio.sleep(0)

        task = asyncio.ensure_future(other_work())
        await asyncio.sleep(0)
        before = len(ticks)
        await scan_users(table, {0, 1}, slice_size=2)
        task.cancel()
        return len(ticks) - before

    assert asyncio.run(main()) >= 5  # 15 entries in slices of 2


class FakeMemoryStore(dict):
    pass


def test_a_memory_store_is_copied_at_once():
    data = FakeMemoryStore({b"u1": b"0 1 -\n{}", APPLIED_PREFIX + b"0": b"1"})
    assert asyncio.run(scan_users(FakeTable(data), {0})) == [("u1", b"0 1 -\n{}")]


def test_a_partitions_user_values_are_read_around_the_keys_that_are_not_users(tmp_path):
    # Real RocksDB databases, opened as Faust opens them. User keys sort on both sides
    # of Faust's changelog position (`__faust\0offset__`); internal keys sort first.
    users = {b"A1": b"0 1 -\n{}", b"__faust": b"0 2 -\n{}", b"_z": b"0 3 -\n{}", b"u1": b"0 4 -\n{}"}
    dbs = {p: RocksDBOptions().open(tmp_path / str(p)) for p in (0, 1)}
    try:
        for key, value in users.items():
            dbs[0][key] = value
        dbs[0][APPLIED_PREFIX + b"0"] = b"6"
        dbs[0][STATS_PREFIX + b"0/xmas"] = b'{"sent":1}'
        dbs[0][RocksDBStore.offset_key] = b"41"
        dbs[1][b"v1"] = b"1 1 -\n{}"
        store = FakeRocksStore([])
        store._dbs = dbs
        values = user_values(FakeTable(store), 0)
        dbs[0][b"u2"] = b"0 5 -\n{}"  # written after: not in what was made before
        assert list(values) == list(users.values())
        assert list(user_values(FakeTable(store), 1)) == [b"1 1 -\n{}"]
        assert list(user_values(FakeTable(store), 2)) == []  # not here
    finally:
        for db in dbs.values():
            db.close()


def test_a_memory_stores_user_values_are_its_users():
    data = FakeMemoryStore({b"u1": b"0 1 -\n{}", APPLIED_PREFIX + b"0": b"1", b"u2": None})
    assert user_values(FakeTable(data), 0) == [b"0 1 -\n{}"]
