"""Reach of a campaign over the embedded store: how many stored users qualify now, and
how many of them can be reached (a live subscription, not a test profile).

Exact: every stored user state is read once, from one read snapshot (SQLite WAL), in
a connection of its own, so it runs in a thread beside the runtime's writer and never
waits for it. The answer is the core's `engine.core.reach.reach_of` for each user; to
go fast it reads the stored JSON straight into the segment check instead of building
each `UserState` (waits and send history are not needed to decide who qualifies).
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Iterator

import orjson

from engine.core.campaigns import CampaignSet, CompiledCampaign

FETCH = 5000
_EMPTY: dict = {}


@dataclass(frozen=True)
class Reach:
    campaign: str
    at: int  # epoch ms: the `now` the segment was evaluated at
    users: int  # stored user states read
    qualified: int  # the segment holds now
    reachable: int  # qualified, with a push subscription, not a test profile
    no_subscription: int  # qualified, no subscription
    test_profiles: int  # qualified test profiles (with a subscription): not counted as reach
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def open_reader(db_path: Path | str) -> sqlite3.Connection:
    """A read-only connection: safe beside a running `pushcast run` (WAL readers do not
    block its writer, and see committed batches only)."""
    db = sqlite3.connect(f"file:{Path(db_path).resolve()}?mode=ro", uri=True, check_same_thread=False)
    db.execute("PRAGMA busy_timeout=5000")
    return db


def stored_states(db: sqlite3.Connection) -> Iterator[bytes]:
    """Every stored user state, as stored (one statement: one consistent snapshot)."""
    cursor = db.execute("SELECT state FROM users")
    while True:
        rows = cursor.fetchmany(FETCH)
        if not rows:
            return
        for (blob,) in rows:
            yield blob


def qualifies_raw(blob: bytes, compiled: CompiledCampaign, now: int) -> dict | None:
    """The stored state as a dict when its user qualifies now, else None (a scheduled
    run builds a `UserState` for these users only)."""
    data = orjson.loads(blob)
    return data if compiled.segment(data.get("p", _EMPTY), data.get("c", _EMPTY), now) else None


def count_reach_raw(blobs: Iterable[bytes], compiled: CompiledCampaign, now: int, campaigns: CampaignSet) -> Reach:
    """`engine.core.reach.count_reach` over stored states, without building `UserState`s."""
    loads = orjson.loads
    segment = compiled.segment
    test_users = frozenset(campaigns.config.test_users)
    users = qualified = reachable = no_subscription = tests = 0
    for blob in blobs:
        users += 1
        data = loads(blob)
        profile = data.get("p", _EMPTY)
        if not segment(profile, data.get("c", _EMPTY), now):
            continue
        qualified += 1
        if not data.get("s"):
            no_subscription += 1
        elif profile.get("test") is True or data["u"] in test_users:
            tests += 1
        else:
            reachable += 1
    return Reach(compiled.id, now, users, qualified, reachable, no_subscription, tests)


def reach_of_store(db_path: Path | str, compiled: CompiledCampaign, now: int, campaigns: CampaignSet) -> Reach:
    """Reach over every user state in the store file (blocking: run it in a thread)."""
    started = time.perf_counter()
    db = open_reader(db_path)
    try:
        db.execute("BEGIN")  # one snapshot for the whole scan
        result = count_reach_raw(stored_states(db), compiled, now, campaigns)
        db.execute("COMMIT")
    finally:
        db.close()
    return Reach(**{**result.to_dict(), "seconds": round(time.perf_counter() - started, 3)})
