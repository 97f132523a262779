"""The runtime's state cache is bounded in bytes as well as users."""

from __future__ import annotations

from engine.local.state_cache import StateCache
from tests.unit.core_helpers import T0
from tests.unit.local_helpers import Running, cart, make_runtime


def test_bytes_and_users_are_both_bounds_and_the_count_stays_exact():
    cache = StateCache(max_users=3, max_bytes=100)
    cache["a"] = b"x" * 40
    cache["b"] = b"x" * 40
    cache["a"] = b"x" * 10  # a rewrite replaces its size
    assert cache.nbytes == 50
    cache.move_to_end("a")
    cache.update({"c": b"x" * 60})
    cache.trim()  # 110 bytes: the least recently used (b) goes
    assert list(cache) == ["a", "c"] and cache.nbytes == 70
    cache.update([("d", b"1"), ("e", b"2")])
    cache.trim()  # four users: one too many
    assert list(cache) == ["c", "d", "e"] and cache.nbytes == 62
    del cache["d"]
    assert cache.pop("e") == b"2" and cache.pop("zz", None) is None
    assert cache.nbytes == 60
    cache.clear()
    assert cache.nbytes == 0


def test_put_many_makes_its_users_the_most_recent_and_counts_their_bytes():
    cache = StateCache(max_users=3, max_bytes=1_000)
    cache.update([("a", b"x" * 10), ("b", b"x" * 20), ("c", b"x" * 30)])
    cache.put_many([("a", b"y" * 5, None, b"snap"), ("d", b"y" * 7, 12, b"snap")])  # writer rows
    assert list(cache) == ["b", "c", "a", "d"] and cache.nbytes == 62
    cache.trim()  # b was the least recently used
    assert list(cache) == ["c", "a", "d"] and cache.nbytes == 42 and cache["a"] == b"y" * 5


async def test_the_runtime_keeps_its_cache_under_the_byte_bound(tmp_path):
    runtime = make_runtime(tmp_path / "state")
    runtime.states.max_bytes = 2_000
    running = Running(runtime)
    try:
        users = [f"user-{n}" for n in range(50)]
        await runtime.submit([cart(u, at=T0) for u in users])
        assert runtime.states.nbytes <= 2_000
        assert 0 < len(runtime.states) < len(users)
        assert runtime.states.nbytes == sum(len(b) for b in runtime.states.values())
        # Evicted users are read back from the store.
        assert all(runtime.user_state(u).waits for u in users)
    finally:
        await running.stop()


def test_removed_since_names_the_users_dropped_after_a_count_while_it_knows_them_all():
    cache = StateCache(max_users=2, removed_kept=3)
    cache.update({"a": b"1", "b": b"2"})
    mark = cache.removals
    assert cache.removed_since(mark) == set()
    cache["c"] = b"3"
    cache.trim()  # a goes
    later = cache.removals
    del cache["b"]
    assert cache.removed_since(mark) == {"a", "b"} and cache.removed_since(later) == {"b"}
    cache.update({"d": b"4", "e": b"5"})
    cache.clear()
    assert cache.removed_since(mark) is None  # five removals since: more than the three kept
    assert cache.removed_since(cache.removals - 3) == {"c", "d", "e"}
