"""Reach counted in worker-side processes (reach_pool.py), each reading the partitions'
real RocksDB databases as another process while this one writes them through the
table's own code: the same replies as the count in the worker's thread, a state written
just before a question counted, and a process that dies answered for in the thread."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rocksdict import Options, Rdict

from engine.agents.faust_private import write_store_partition
from engine.agents.reach import TEST_PROFILES_QUESTION, ReachRequest, answer_table
from engine.agents.reach_pool import ReachPool
from engine.agents.records import StoredState
from engine.agents.table import applied_key, scan_users, user_db, user_values
from engine.core import UserState, process_event
from engine.rules.model import GlobalConfig
from tests.unit.agents.test_agents_table_batch import PartitionedStore
from tests.unit.core.test_schedule_reach import SEGMENT, random_events
from tests.unit.core_helpers import T0, campaigns

PARTITIONS = 3
ROOT = Path(__file__).resolve().parents[3]


class PathStore(PartitionedStore):
    """Faust's RocksDB store over partition databases at known paths (what `user_db` reads)."""

    def __init__(self, root: Path, dbs: dict[int, Rdict]):
        super().__init__(dbs)
        self.root = root

    def partition_path(self, partition: int) -> Path:
        return self.root / f"users-{partition}.db"


class Table:
    def __init__(self, store):
        self.data = store


@pytest.fixture
def table(tmp_path):
    dbs = {p: Rdict(str(tmp_path / f"users-{p}.db"), Options(raw_mode=True)) for p in range(PARTITIONS)}
    store = PathStore(tmp_path, dbs)
    yield Table(store)
    for db in dbs.values():
        db.close()


@pytest.fixture
def pool():
    pool = ReachPool(2)
    yield pool
    pool.close()


def _write_states(table, cs, count: int = 400, prefix: str = "") -> None:
    """States written as the user agent writes them (`write_store_partition`), with the
    keys a partition holds besides users': Faust's changelog position, an applied offset."""
    states: dict[str, UserState] = {}
    for event in random_events(count):
        process_event(states.setdefault(event.user, UserState(event.user)), event, cs)
    for p in range(PARTITIONS):
        items = {(prefix + user).encode(): StoredState(state, p, 7).dumps()
                 for user, state in states.items() if int(user[1:]) % PARTITIONS == p}
        items[applied_key(p)] = b"7"
        items[PathStore.offset_key] = b"41"
        write_store_partition(table.data, p, items)


def _answer(table, requests, cs, pool=None):
    return asyncio.run(answer_table(requests, lambda p: user_values(table, p),
                                    lambda p: scan_users(table, {p}), cs, pool, lambda p: user_db(table, p)))


def _requests(question: str = "reach"):
    return [ReachRequest(f"r{p}", "gold-launchers", T0, p, question) for p in range(PARTITIONS)]


def test_the_count_in_processes_equals_the_count_in_the_thread(table, pool):
    cs = campaigns(SEGMENT, config=GlobalConfig(test_users=("u0003",)))
    _write_states(table, cs)
    requests = _requests() + [ReachRequest("t", "gold-launchers", T0, 1, TEST_PROFILES_QUESTION)]
    in_thread = _answer(table, requests, cs)
    assert all(r["users"] > 0 for r in in_thread[:PARTITIONS]) and sum(r["qualified"] for r in in_thread[:3]) > 0
    assert _answer(table, requests, cs, pool) == in_thread
    assert _answer(table, requests, cs, pool) == in_thread  # asked again: the processes' views caught up
    unknown = [ReachRequest("r", "nope", T0, 0)]
    assert _answer(table, unknown, cs, pool) == _answer(table, unknown, cs)  # the error, as in the thread


def test_a_state_written_just_before_the_question_is_counted(table, pool):
    cs = campaigns(SEGMENT)
    _write_states(table, cs)
    before = _answer(table, _requests(), cs, pool)  # the processes have opened every database
    _write_states(table, cs, count=40, prefix="new-")  # new users, every one in some partition
    after = _answer(table, _requests(), cs, pool)
    assert after == _answer(table, _requests(), cs)
    assert sum(r["users"] for r in after) > sum(r["users"] for r in before)


def test_a_process_that_dies_is_answered_for_in_the_thread_and_replaced(table, pool):
    cs = campaigns(SEGMENT)
    _write_states(table, cs)
    expected = _answer(table, _requests(), cs)
    assert _answer(table, _requests(), cs, pool) == expected
    started = multiprocessing.active_children()
    assert len(started) == 2
    for process in started:
        os.kill(process.pid, signal.SIGKILL)
        process.join(5)
    assert _answer(table, _requests(), cs, pool) == expected  # counted in the thread
    assert _answer(table, _requests(), cs, pool) == expected  # by new processes
    assert not {p.pid for p in multiprocessing.active_children()} & {p.pid for p in started}


def test_a_database_made_anew_at_the_same_path_is_read_anew(tmp_path, pool):
    # A process keeps its partitions' instances; one of a database removed and made again
    # (another RocksDB IDENTITY) would read the old files it holds open.
    cs = campaigns(SEGMENT)
    first = {p: Rdict(str(tmp_path / f"users-{p}.db"), Options(raw_mode=True)) for p in range(PARTITIONS)}
    table = Table(PathStore(tmp_path, first))
    _write_states(table, cs)
    old = _answer(table, _requests(), cs, pool)
    for db in first.values():
        db.close()
    shutil.rmtree(tmp_path / "users-0.db")
    again = {p: Rdict(str(tmp_path / f"users-{p}.db"), Options(raw_mode=True)) for p in range(PARTITIONS)}
    try:
        table = Table(PathStore(tmp_path, again))
        _write_states(table, cs, count=40, prefix="new-")  # partition 0 holds only these now
        new = _answer(table, _requests(), cs, pool)
        assert new == _answer(table, _requests(), cs)
        assert new[0]["users"] < old[0]["users"]
    finally:
        for db in again.values():
            db.close()


def test_a_memory_store_is_counted_in_the_thread(pool):
    cs = campaigns(SEGMENT)
    assert multiprocessing.active_children() == []  # none left by the tests before
    table = Table({b"u1": StoredState(UserState("u1"), 0, 1).dumps()})
    assert user_db(table, 0) is None
    assert _answer(table, _requests()[:1], cs, pool)[0]["users"] == 1
    assert multiprocessing.active_children() == []


ORPHANED = """
import asyncio, multiprocessing, os, signal
from engine.agents.reach_pool import ReachPool
pool = ReachPool(2)
asyncio.run(pool.start())
while len(multiprocessing.active_children()) < 2:
    pass
print(" ".join(str(p.pid) for p in multiprocessing.active_children()), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_the_processes_of_a_worker_killed_with_minus_9_exit():
    done = subprocess.run([sys.executable, "-c", ORPHANED], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == -signal.SIGKILL, done.stderr
    pids = [int(pid) for pid in done.stdout.split()]
    assert len(pids) >= 2
    deadline = time.monotonic() + 30  # the watch looks every ORPHAN_CHECK_SECONDS
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(pid) for pid in pids)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"  # a zombie has exited
