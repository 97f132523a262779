"""The per-worker index of due waits."""

from engine.agents.wakes import WakeIndex


def test_due_users_fire_once_in_time_order_and_are_refired_if_nothing_moves_them():
    index = WakeIndex(refire_ms=1000)
    index.set("a", 300, 0)
    index.set("b", 100, 1)
    index.set("c", 900, 0)
    assert index.pop_due(50) == []
    assert index.pop_due(300) == [("b", 100, 1), ("a", 300, 0)]
    assert index.pop_due(400) == []  # fired: not again until the refire time
    assert index.pop_due(1300) == [("c", 900, 0), ("b", 100, 1), ("a", 300, 0)]


def test_a_moved_or_cleared_timer_replaces_the_old_one():
    index = WakeIndex()
    index.set("a", 100, 0)
    index.set("a", 500, 0)
    index.set("b", 200, 0)
    index.set("b", None, 0)
    assert index.pop_due(1000) == [("a", 500, 0)]
    assert len(index) == 1
    index.set("a", None, 0)
    assert len(index) == 0 and index.next_fire() is None


def test_revoked_partitions_leave_the_index():
    index = WakeIndex()
    index.set("a", 100, 0)
    index.set("b", 100, 1)
    index.drop_partitions({1})
    assert index.pop_due(100) == [("a", 100, 0)]
    assert index.get("b") is None
