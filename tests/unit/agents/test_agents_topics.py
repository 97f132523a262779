"""Which topics a worker makes or checks, and what a mismatch says (the Kafka side is in
tests/integration/test_kafka_topics_dry_run.py)."""

from engine.agents.settings import WorkerSettings
from engine.agents.topics import mismatch, worker_topics


def _specs(**kwargs):
    return {spec.name: spec for spec in worker_topics(WorkerSettings(**kwargs))}


def test_every_topic_the_worker_uses_at_its_configured_count():
    specs = _specs(app_id="shop", events_topic="p-events", sends_topic="p-sends", dead_letter_topic="p-dl",
                   reach_replies_topic="p-replies", partitions=12, sends_partitions=6)
    assert {name: (s.partitions, dict(s.configs)) for name, s in specs.items()} == {
        "p-events": (12, {}), "p-sends": (6, {}), "p-replies": (1, {}), "p-dl": (1, {}),
        # Made before Faust starts (a first table write could race Faust making it), as Faust would.
        "shop-users-changelog": (12, {"cleanup.policy": "compact"}),
        # The workers' beats (peers.py): the last one per worker, read from partition 0.
        "shop-peers": (1, {"cleanup.policy": "compact"}),
    }


def test_a_mismatch_names_the_topic_the_count_found_and_the_flag():
    specs = _specs(partitions=8, sends_partitions=4)
    assert mismatch(specs["pushcast-events"], 8) is None
    message = mismatch(specs["pushcast-events"], 1)
    assert message.startswith("Kafka topic 'pushcast-events' has 1 partition, the worker is configured for 8 "
                              "(--partitions).")
    assert "(--sends-partitions)" in mismatch(specs["pushcast-sends"], 8)
    assert "exactly 1" in mismatch(specs["pushcast-reach-replies"], 3)
    assert mismatch(specs["pushcast-dead-letters"], 5) is None  # any count: read whole, by people
    assert "--app-id" in mismatch(specs["pushcast-users-changelog"], 4)
