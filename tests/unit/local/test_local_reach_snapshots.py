"""Reach snapshots in the embedded store: each saved state's snapshot is written in its
row, reach and scheduled runs read the snapshots with the same answers as the whole
states, and a store file from before snapshots is read correctly, then migrated when
opened."""

from __future__ import annotations

import sqlite3

import orjson

import engine.local.store as store_module
from engine.core import Event, UserState
from engine.core.reach import count_reach
from engine.local.reach import has_snapshots, open_reader, reach_of_store
from engine.local.store import SNAPSHOTS_META, Store
from engine.rules.model import GlobalConfig
from engine.shell.inputs import ScheduledRun
from engine.shell.reach import count_reach_raw, snapshot_of, stored_forms
from tests.unit.core.test_schedule_reach import SEGMENT, random_events
from tests.unit.core_helpers import DAY, T0, campaigns
from tests.unit.local_helpers import Running, make_runtime

CAMPAIGNS = campaigns(SEGMENT, config=GlobalConfig(test_users=("u0003",)))
COMPILED = CAMPAIGNS.get("gold-launchers")


def rows(db_path, table: str, column: str) -> dict[str, bytes]:
    db = sqlite3.connect(db_path)
    try:
        return dict(db.execute(f"SELECT user, {column} FROM {table}"))
    finally:
        db.close()


def expected_reach(db_path) -> tuple[int, int]:
    states = [UserState.loads(blob) for blob in rows(db_path, "users", "state").values()]
    return count_reach(states, COMPILED, T0, CAMPAIGNS)


async def filled_store(tmp_path, n: int = 300):
    """A store of `n` users written by the runtime, some changed in a second batch."""
    runtime = make_runtime(tmp_path, SEGMENT)
    runtime.campaigns = CAMPAIGNS
    running = Running(runtime)
    try:
        await runtime.submit(random_events(n))
        # later batches change profiles and counters of users already stored
        await runtime.submit([Event(f"u{i:04d}", "$profile", T0 - DAY, {"plan": "gold"}) for i in range(0, n, 3)])
        await runtime.submit([Event(f"u{i:04d}", "App Launched", T0 - 2 * DAY, {}) for i in range(0, n, 2)])
        # a run changes the send history of who it reaches, not their snapshots
        await runtime.submit([ScheduledRun(f"u{i:04d}", "gold-launchers", "2026-12-24T10:00", T0) for i in range(n)])
        assert runtime.store.pending_count() > 0
    finally:
        await running.stop()
    return tmp_path / "pushcast.db"


def test_a_snapshot_holds_only_what_reach_reads():
    state = UserState("u1", profile={"plan": "gold", "test": True}, subscriptions={"https://e/1": ["k", "a"]},
                      counters={"c1": [1, 2]}, hours=[3] + [0] * 24, ignored=[2, 0], decisions=[[1, "x"]])
    blob, snap = stored_forms(state)
    assert orjson.loads(blob) == state.to_dict()
    # [profile, counters, subscribed, hour weights, user]
    assert orjson.loads(snap) == [{"plan": "gold", "test": True}, {"c1": [1, 2]}, 1, [3] + [0] * 24, "u1"]
    assert snapshot_of({"u": "u2", "s": {}}) == [{}, {}, 0, None, "u2"]  # no live subscription: 0


def format_1(data: dict) -> dict:
    """A snapshot as format 1 wrote it: the state's own keys, subscriptions as presence."""
    snapshot = {key: data[key] for key in ("u", "p", "c", "t") if key in data}
    if data.get("s"):
        snapshot["s"] = 1
    return snapshot


async def test_every_saved_state_has_its_snapshot_and_reach_reads_them(tmp_path):
    db_path = await filled_store(tmp_path)
    states, snaps = rows(db_path, "users", "state"), rows(db_path, "users", "snap")
    assert len(states) == 300
    assert all(orjson.loads(snaps[user]) == snapshot_of(orjson.loads(blob)) for user, blob in states.items())
    assert sum(map(len, snaps.values())) < sum(map(len, states.values())) / 2
    found = reach_of_store(db_path, COMPILED, T0, CAMPAIGNS)
    from_states = count_reach_raw(states.values(), COMPILED, T0, CAMPAIGNS)
    assert (found.qualified, found.reachable) == expected_reach(db_path)
    assert found == from_states.__class__(**{**from_states.to_dict(), "seconds": found.seconds})
    assert 0 < found.reachable < found.qualified < found.users == 300


async def test_a_store_from_before_snapshots_is_read_then_migrated(tmp_path, monkeypatch, caplog):
    db_path = await filled_store(tmp_path)
    expected = expected_reach(db_path)
    db = sqlite3.connect(db_path)  # as the previous version left its files
    db.execute("ALTER TABLE users DROP COLUMN snap")
    db.execute("DELETE FROM meta WHERE key = ?", (SNAPSHOTS_META,))
    db.commit()
    db.close()

    reader = open_reader(db_path)
    assert not has_snapshots(reader)
    reader.close()
    old = reach_of_store(db_path, COMPILED, T0, CAMPAIGNS)  # read state by state
    assert (old.qualified, old.reachable, old.users) == (*expected, 300)

    monkeypatch.setattr(store_module, "_MIGRATE_CHUNK", 7)  # several chunks
    caplog.set_level("INFO", logger="pushcast.store")
    Store(db_path).close()
    assert "added the reach snapshots of 300 stored user state(s)" in caplog.text
    Store(db_path).close()  # once: the next open finds them
    assert caplog.text.count("added the reach snapshots") == 1
    states, snaps = rows(db_path, "users", "state"), rows(db_path, "users", "snap")
    assert snaps == {user: orjson.dumps(snapshot_of(orjson.loads(blob))) for user, blob in states.items()}
    reader = open_reader(db_path)
    assert has_snapshots(reader)
    reader.close()
    new = reach_of_store(db_path, COMPILED, T0, CAMPAIGNS)
    assert new.to_dict() | {"seconds": 0} == old.to_dict() | {"seconds": 0}


async def test_a_row_without_a_snapshot_is_read_from_its_state(tmp_path):
    db_path = await filled_store(tmp_path)
    expected = reach_of_store(db_path, COMPILED, T0, CAMPAIGNS)
    db = sqlite3.connect(db_path)
    assert db.execute("UPDATE users SET snap = NULL WHERE user < 'u0100'").rowcount == 100
    db.commit()
    db.close()
    found = reach_of_store(db_path, COMPILED, T0, CAMPAIGNS)
    assert found.to_dict() | {"seconds": 0} == expected.to_dict() | {"seconds": 0}


def test_a_file_of_the_old_schema_opened_by_no_store_is_read_state_by_state(tmp_path):
    db_path = tmp_path / "old.db"
    db = sqlite3.connect(db_path)
    db.execute("CREATE TABLE users (user TEXT PRIMARY KEY, state BLOB NOT NULL, next_due INTEGER) WITHOUT ROWID")
    state = UserState("u1", profile={"plan": "gold"}, subscriptions={"https://e/1": ["k", "a"]})
    db.execute("INSERT INTO users VALUES (?, ?, NULL)", ("u1", state.dumps()))
    db.commit()
    db.close()
    found = reach_of_store(db_path, COMPILED, T0, CAMPAIGNS)
    assert (found.users, found.qualified) == (1, 0)  # read (no launches: not in the segment)


async def test_snapshots_of_format_1_are_read_then_rewritten(tmp_path, caplog):
    db_path = await filled_store(tmp_path)
    expected = reach_of_store(db_path, COMPILED, T0, CAMPAIGNS)
    db = sqlite3.connect(db_path)  # as the previous version left its files
    db.executemany("UPDATE users SET snap = ? WHERE user = ?",
                   [(orjson.dumps(format_1(orjson.loads(blob))), user) for user, blob in db.execute(
                       "SELECT user, state FROM users").fetchall()])
    db.execute("UPDATE meta SET value = '1' WHERE key = ?", (SNAPSHOTS_META,))
    db.commit()
    db.close()
    assert all(orjson.loads(snap).__class__ is dict for snap in rows(db_path, "users", "snap").values())
    old = reach_of_store(db_path, COMPILED, T0, CAMPAIGNS)  # format 1, read as it is
    assert old.to_dict() | {"seconds": 0} == expected.to_dict() | {"seconds": 0}

    caplog.set_level("INFO", logger="pushcast.store")
    Store(db_path).close()
    assert "added the reach snapshots of 300 stored user state(s)" in caplog.text
    assert "(format 1 before)" in caplog.text
    Store(db_path).close()  # once
    assert caplog.text.count("added the reach snapshots") == 1
    states, snaps = rows(db_path, "users", "state"), rows(db_path, "users", "snap")
    assert snaps == {user: orjson.dumps(snapshot_of(orjson.loads(blob))) for user, blob in states.items()}
    new = reach_of_store(db_path, COMPILED, T0, CAMPAIGNS)
    assert new.to_dict() | {"seconds": 0} == expected.to_dict() | {"seconds": 0}
    assert 0 < new.test_profiles and 0 < new.reachable < new.qualified
