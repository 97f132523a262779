"""Reach counted in worker-side processes (`--reach-processes`), off the worker's GIL.

    worker (event loop) ── (partition's database path, campaign, at) ──▶ process p % N
        process: its own read-only view of the partition's RocksDB (a secondary
        instance, opened once, caught up with the worker's writes at each question)
        ──▶ `reach.partition_reach` over its values, as the in-thread count does
    worker ◀── the partition's counts (a `Reach`), nothing else

Why a secondary instance: it reads the primary's files and tails its write-ahead log,
and `try_catch_up_with_primary` brings it to every write the worker made before the
question (Faust's store writes with the WAL on and never fsyncs it, but a write is in the
log file, hence in the OS's page cache, once `write` returns: no flush is needed). A
read-only open would replay the whole log at every question (a partition's states sit in
it until the memtable is flushed: ~40 MB at a million users); the secondary replays it
once. Each process keeps its partitions' instances, so a partition always goes to the
same process.

A process that dies mid-count (killed, out of memory) breaks only its own executor: the
question is counted in the worker's thread instead (`ReachProcessFailed` is caught by
`reach.answer_table`), with a warning, and the next question starts a new process.
"""

from __future__ import annotations

import asyncio
import atexit
import multiprocessing
import os
import pickle
import shutil
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from pathlib import Path

from engine.core.campaigns import CampaignSet
from engine.errors import PushcastError
from engine.rules.model import Message
from engine.shell.collector import tune_collector
from engine.shell.reach import Reach


class ReachProcessFailed(PushcastError):
    """A reach process could not answer (it died, or its database could not be read)."""


class ReachPool:
    """`processes` single-process executors, started at once (spawned: the worker's
    threads and Kafka clients are not forked), each counting the partitions p with
    p % processes == its index."""

    def __init__(self, processes: int):
        if processes < 1:
            raise ValueError(f"reach processes: {processes} (0 counts in the worker's thread: no pool)")
        self._executors: list[ProcessPoolExecutor | None] = [None] * processes
        self._parts: tuple[CampaignSet, bytes] | None = None  # a campaign set, what its counts need pickled

    async def start(self) -> None:
        """Spawn every process now (its imports take a second), not at the first question
        (a Faust task of the worker: run when its app starts)."""
        for index in range(len(self._executors)):
            self._executor(index).submit(int)

    def _executor(self, index: int) -> ProcessPoolExecutor:
        executor = self._executors[index]
        if executor is None:
            executor = self._executors[index] = ProcessPoolExecutor(
                1, mp_context=multiprocessing.get_context("spawn"), initializer=_process_start,
                initargs=(os.getpid(),))
        return executor

    async def count(self, path: Path, offset_key: bytes, partition: int, campaign: str, at: int,
                    campaigns: CampaignSet) -> Reach:
        """`reach.partition_reach` of `partition` (its database at `path`), in its process."""
        index = partition % len(self._executors)
        executor = self._executor(index)
        try:
            return await asyncio.wrap_future(executor.submit(
                count_partition, str(path), offset_key, partition, campaign, at, self._counted_parts(campaigns)))
        except BrokenProcessPool as exc:
            if self._executors[index] is executor:  # the next question starts a new process
                self._executors[index] = None
                executor.shutdown(wait=False, cancel_futures=True)
            raise ReachProcessFailed(f"the reach process of partition {partition} died: {exc}") from None
        except Exception as exc:  # raised in the process (a database it could not open or read)
            raise ReachProcessFailed(f"the reach process of partition {partition}: {exc!r}") from None

    def _counted_parts(self, campaigns: CampaignSet) -> bytes:
        """What a count reads of `campaigns`, pickled once per campaign set: each campaign
        without its message, trigger and other rules (compiled templates do not pickle;
        a count reads only the id, segment and `when`), and the global config."""
        if self._parts is None or self._parts[0] is not campaigns:  # held: its id is not reused meanwhile
            parts = [replace(compiled.campaign, what=Message(title=""), trigger=None, unless=None,
                             conversion=None, position=None) for compiled in campaigns.by_id.values()]
            self._parts = (campaigns, pickle.dumps((parts, campaigns.config)))
        return self._parts[1]

    def close(self) -> None:
        """Stop the processes and wait for them to exit."""
        for executor in self._executors:
            if executor is not None:
                executor.shutdown(wait=True, cancel_futures=True)
        self._executors = [None] * len(self._executors)


# --- in a reach process -----------------------------------------------------------------

ORPHAN_CHECK_SECONDS = 1.0  # how often a reach process checks that its worker is alive
_dbs: dict[str, tuple[bytes, object]] = {}  # database path -> (its IDENTITY, its secondary instance)
_campaigns: tuple[bytes, CampaignSet] | None = None
_scratch: str | None = None  # the secondary instances' own directories (their info logs)


def _process_start(worker: int) -> None:
    """A reach process's setup: the worker's collector thresholds (a count makes a parsed
    dict a state it reads), and an exit when the worker is gone: a worker killed with -9
    never tells its processes, and they were seen still waiting for a question 16
    minutes later."""
    tune_collector()

    def watch() -> None:
        while os.getppid() == worker:
            time.sleep(ORPHAN_CHECK_SECONDS)
        os._exit(0)

    threading.Thread(target=watch, name="reach-orphan-watch", daemon=True).start()


def count_partition(path: str, offset_key: bytes, partition: int, campaign: str, at: int,
                    parts: bytes) -> Reach:
    """In a reach process: the count the worker's thread would make, over this process's
    view of the database, caught up with the worker's writes now."""
    from engine.agents.faust_private import values_around  # Faust's imports: in the process only
    from engine.agents.reach import partition_reach
    from engine.agents.table import USERS_FROM

    global _campaigns
    if _campaigns is None or _campaigns[0] != parts:
        campaign_parts, config = pickle.loads(parts)
        _campaigns = (parts, CampaignSet(campaign_parts, config))
    campaigns = _campaigns[1]
    db = _secondary(path)
    return partition_reach(values_around(db, USERS_FROM, offset_key), partition, campaigns.by_id[campaign],
                           at, campaigns)


def _secondary(path: str):
    """This process's secondary instance of the database at `path`, caught up with the
    worker's writes. A database made anew at the same path (another IDENTITY) is opened
    anew: an instance holds the old files open and would read them. One that could not
    catch up is dropped, for the next question to open again."""
    from rocksdict import AccessType, Options, Rdict

    global _scratch
    made = Path(path, "IDENTITY").read_bytes()  # RocksDB's id of the database, new with each
    known = _dbs.get(path)
    if known is not None and known[0] == made:
        try:
            known[1].try_catch_up_with_primary()
        except Exception:
            del _dbs[path]
            raise
        return known[1]
    if known is not None:
        del _dbs[path]
        known[1].close()
    if _scratch is None:
        _scratch = tempfile.mkdtemp(prefix="pushcast-reach-")
        atexit.register(shutil.rmtree, _scratch, True)
    options = Options(raw_mode=True)  # as Faust's store writes (raw bytes, no pickling)
    options.set_max_open_files(-1)  # a secondary keeps every table file it reads open
    db = Rdict(path, options, access_type=AccessType.secondary(tempfile.mkdtemp(dir=_scratch)))
    db.try_catch_up_with_primary()
    _dbs[path] = (made, db)
    return db
