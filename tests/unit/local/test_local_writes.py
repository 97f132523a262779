"""What the writer writes for each state a batch touched: nothing for a state left as
committed, the state alone when its next due time is unchanged, the whole row else."""

from __future__ import annotations

from engine.core import Event
from engine.shell.clock import ManualClock
from tests.unit.core_helpers import MIN, T0
from tests.unit.local_helpers import Running, cart, make_runtime, subscribe


def user_writes(runtime) -> list[str]:
    """The statements the writer's connection runs on the users table from now on."""
    statements: list[str] = []
    runtime.store.db.set_trace_callback(lambda sql: statements.append(sql) if " users" in sql else None)
    return statements


async def test_a_state_the_step_left_unchanged_is_not_written(tmp_path):
    runtime = make_runtime(tmp_path)
    running = Running(runtime)
    try:
        await runtime.submit([subscribe("u1"), cart("u1")])
        before = runtime.store.load_state("u1")
        writes = user_writes(runtime)
        await runtime.submit([Event("u1", "Searched", T0, {"q": "shoes"})])  # no campaign reads it
        assert [sql for sql in writes if not sql.startswith("SELECT")] == []
        assert runtime.store.load_state("u1") == before and runtime.timers.get("u1") == T0 + 10 * MIN
    finally:
        await running.stop()


async def test_only_the_state_is_rewritten_while_the_next_due_time_stays(tmp_path):
    runtime = make_runtime(tmp_path)
    running = Running(runtime)
    try:
        await runtime.submit([subscribe("u1"), cart("u1")])
        writes = user_writes(runtime)
        await runtime.submit([cart("u1", "c2", at=T0 + MIN)])  # a second wait, due later
        assert [sql.split()[0] for sql in writes if not sql.startswith("SELECT")] == ["UPDATE"]
        writes.clear()
        await runtime.submit([Event("u1", "Charged", T0 + 2 * MIN, {"cart_id": "c1"})])  # the first wait goes
        assert [sql.split()[0] for sql in writes if not sql.startswith("SELECT")] == ["INSERT"]
    finally:
        await running.stop()
    # What a restart reads is what the runtime held: the state and its next due time.
    again = make_runtime(tmp_path, clock=ManualClock(T0 + 11 * MIN))
    assert again.timers.next_due() == T0 + 11 * MIN
    state = again.user_state("u1")
    assert [w.key for w in state.waits] == ["c2"] and state.next_due == T0 + 11 * MIN
    again.store.close()
