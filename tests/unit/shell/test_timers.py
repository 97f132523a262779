from engine.shell.timers import Timers


def test_timers_keep_one_live_entry_per_user():
    timers = Timers()
    timers.load([(300, "a"), (100, "b")])
    assert timers.set("a", 50) is True  # earlier than all: the timer loop must re-plan
    assert timers.set("c", 400) is False
    timers.set("b", None)
    assert timers.next_due() == 50
    assert timers.pop_due(300) == [("a", 50)]  # a's superseded 300 is skipped, b was cleared
    assert len(timers) == 1 and timers.next_due() == 400


def test_a_refiring_timer_fires_again_until_its_due_time_moves():
    timers = Timers(refire_ms=1000)
    timers.set("a", 100)
    assert timers.pop_due(150) == [("a", 100)]
    assert timers.next_due() == 1150  # re-armed, not dropped: a lost wake-up costs a delay
    assert timers.pop_due(1000) == []
    assert timers.pop_due(1150) == [("a", 100)]
    timers.set("a", 5000)  # the user's state moved on
    assert timers.pop_due(4000) == [] and timers.next_due() == 5000


def test_discarded_users_never_fire():
    timers = Timers(refire_ms=1000)
    timers.load([(10, "a"), (20, "b")])
    timers.discard(["a"])
    assert timers.pop_due(100) == [("b", 20)] and len(timers) == 1
