"""A submitter's own read of the stored states (`ReadStates`: a scheduled run's chunk)
spares the writer a second read only while it is current: a state committed since the
read, in the cache or evicted from it, is the one the writer works on."""

from __future__ import annotations

from engine.core import Event, UserState
from engine.local.runtime import ReadStates
from tests.unit.core_helpers import T0
from tests.unit.local_helpers import Running, cart, make_runtime


def profile(user: str, **props) -> Event:
    return Event(user, "$profile", T0, props)


async def stored(runtime, user: str) -> bytes:
    await runtime.barrier()
    return runtime.store.load_state(user)


async def test_the_writer_takes_the_submitters_read_while_nothing_left_the_cache(tmp_path):
    runtime = make_runtime(tmp_path)
    running = Running(runtime)
    try:
        # A state the store does not hold: the writer can only have it from the read.
        given = UserState("u1", profile={"plan": "gold"}).dumps()
        await runtime.submit_nowait([profile("u1", zone="DE")], read=ReadStates(runtime.states.removals, {"u1": given}))
        assert runtime.user_state("u1").profile == {"plan": "gold", "zone": "DE"}
    finally:
        await running.stop()


async def test_a_state_committed_since_the_read_wins_over_it(tmp_path):
    runtime = make_runtime(tmp_path)
    running = Running(runtime)
    try:
        await runtime.submit([profile("u1", plan="gold")])
        read = ReadStates(runtime.states.removals, {"u1": await stored(runtime, "u1")})
        await runtime.submit([profile("u1", zone="DE")])  # committed after the read: in the cache
        await runtime.submit_nowait([cart("u1")], read=read)
        state = runtime.user_state("u1")
        assert state.profile == {"plan": "gold", "zone": "DE"} and state.waits
    finally:
        await running.stop()


async def test_after_an_eviction_the_writer_reads_the_store_again(tmp_path):
    runtime = make_runtime(tmp_path)
    runtime.states.max_users = 1
    running = Running(runtime)
    try:
        await runtime.submit([profile("u1", plan="gold")])
        read = ReadStates(runtime.states.removals, {"u1": await stored(runtime, "u1")})
        await runtime.submit([profile("u1", zone="DE")])
        await runtime.submit([profile("u2", plan="free")])  # u1's newer state leaves the cache
        assert "u1" not in runtime.states and runtime.states.removals > read.removals
        await runtime.submit_nowait([cart("u1")], read=read)
        state = runtime.user_state("u1")
        assert state.profile == {"plan": "gold", "zone": "DE"} and state.waits
    finally:
        await running.stop()


async def test_another_users_eviction_leaves_the_read_in_use(tmp_path):
    runtime = make_runtime(tmp_path)
    runtime.states.max_users = 1
    running = Running(runtime)
    try:
        given = UserState("u1", profile={"plan": "gold"}).dumps()  # not stored: only the read has it
        read = ReadStates(runtime.states.removals, {"u1": given})
        await runtime.submit([profile("u2", plan="free")])
        await runtime.submit([profile("u3", plan="free")])  # u2 leaves the cache
        assert runtime.states.removals > read.removals
        await runtime.submit_nowait([profile("u1", zone="DE")], read=read)
        assert runtime.user_state("u1").profile == {"plan": "gold", "zone": "DE"}
    finally:
        await running.stop()
