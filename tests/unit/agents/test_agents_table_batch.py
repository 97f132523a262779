"""A user-agent batch's table writes gathered per partition in the order made, and written
into a RocksDB partition at once (table.TableBatch, faust_private.write_store_partition)."""

from __future__ import annotations

from faust.stores.rocksdb import Store as RocksDBStore
from rocksdict import Options, Rdict

from engine.agents.faust_private import store_reader, write_store_partition
from engine.agents.records import StoredState
from engine.agents.table import TableBatch, applied_key, write_applied, write_schedule_cursor
from engine.agents.users import Record
from engine.core import UserState


def _record(partition: int, offset: int) -> Record:
    return Record(b"u", b"{}", [], 0, partition, offset)


def test_a_batch_keeps_each_partitions_writes_in_the_order_made():
    batch = TableBatch()
    batch.put(1, b"\x00stats/1/cart", b"{}")
    batch.put(0, b"u1", b"a")
    batch.put(1, b"u2", b"b")
    write_schedule_cursor(batch, _record(1, 8), "weekly", 99)
    write_applied(batch, [_record(0, 3), _record(1, 7), _record(0, 5), _record(1, 9)])
    assert list(batch.partitions[1].items()) == [
        (b"\x00stats/1/cart", b"{}"), (b"u2", b"b"), (b"\x00schedule/1/weekly", b"99"), (applied_key(1), b"9")]
    assert list(batch.partitions[0].items()) == [(b"u1", b"a"), (applied_key(0), b"5")]


def test_a_key_written_again_keeps_its_first_place_and_its_last_value():
    batch = TableBatch()
    batch.put(0, b"a", b"1")
    batch.put(0, b"b", b"2")
    batch.put(0, b"a", b"3")
    batch.delete(0, b"b")
    assert list(batch.partitions[0].items()) == [(b"a", b"3"), (b"b", None)]
    assert batch.pending(0, b"a") and not batch.pending(1, b"a") and not batch.pending(0, b"c")


class PartitionedStore(RocksDBStore):
    """Faust's RocksDB store over real partition databases (a Faust service needs an app
    to start: not started, its databases opened here)."""

    def __init__(self, dbs: dict[int, Rdict]):
        self._dbs = dbs
        self.use_rocksdict = True  # what Faust picks when rocksdict is installed


def _open(path) -> Rdict:
    return Rdict(str(path), options=Options(raw_mode=True))


def test_a_partitions_writes_land_in_its_database_only(tmp_path):
    dbs = {0: _open(tmp_path / "p0"), 1: _open(tmp_path / "p1")}
    try:
        dbs[1][b"old"] = b"x"
        dbs[1][b"kept"] = b"k"
        state = StoredState(UserState("u1"), 1, 4).dumps()
        write_store_partition(PartitionedStore(dbs), 1, {b"u1": state, b"old": None, applied_key(1): b"4"})
        assert dbs[1][b"u1"] == state and StoredState.loads(dbs[1][b"u1"]).offset == 4
        assert dbs[1].get(b"old") is None and dbs[1][b"kept"] == b"k" and dbs[1][applied_key(1)] == b"4"
        assert list(dbs[0].keys()) == []
        read = store_reader(PartitionedStore(dbs))
        assert read(1, b"u1") == state and read(0, b"u1") is None and read(1, b"old") is None
    finally:
        for db in dbs.values():
            db.close()


def test_a_memory_store_takes_the_writes_as_they_are():
    store = {b"old": b"x"}
    write_store_partition(store, 3, {b"u1": b"s", b"old": None})
    assert store == {b"u1": b"s"} and store_reader(store)(0, b"u1") == b"s"
