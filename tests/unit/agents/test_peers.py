"""Which peers the watch removes from the group (engine/agents/peers.py; the Kafka side,
a kill -9 and the survivor taking over, is tests/integration/test_kafka_failover.py)."""

from engine.agents.peers import PeerWatch


def _watch() -> PeerWatch:
    return PeerWatch("kafka:9092", "group", "group-peers", lambda: "m-self", silent_after=2.0, key=b"self")


def test_a_peer_silent_longer_than_the_timeout_is_named_with_its_last_member_id():
    watch = _watch()
    assert watch.silent([(b"self", b"m-self"), (b"a", b"m-a1"), (b"b", b"m-b")], now=10.0) == []
    assert watch.silent([(b"a", b"m-a2")], now=11.0) == []  # a rejoined: a new member id
    assert watch.silent([(b"self", b"m-self"), (b"b", b"m-b")], now=12.5) == []  # a: 1.5 s, not yet
    assert watch.silent([(b"self", b"m-self"), (b"b", b"m-b")], now=13.1) == [(b"a", "m-a2")]


def test_no_one_is_removed_while_the_watch_does_not_hear_its_own_beats():
    watch = _watch()
    watch.silent([(b"self", b"m-self"), (b"a", b"m-a")], now=10.0)
    # 5 s without any beat, its own included: this worker is the one cut off or starved.
    assert watch.silent([], now=15.0) == []
    # Its own beats come back: a, still silent, is removed.
    assert watch.silent([(b"self", b"m-self")], now=15.1) == [(b"a", "m-a")]


def test_a_peer_that_said_goodbye_is_not_waited_for():
    watch = _watch()
    watch.silent([(b"self", b"m-self"), (b"a", b"m-a")], now=10.0)
    assert watch.silent([(b"a", None), (b"self", b"m-self")], now=13.0) == []
