"""The user agent's batch logic, without Kafka: decode, replay guard, core, dead letters."""

from pathlib import Path

import orjson
import pytest

from engine.shell.metrics import worker_metrics
from engine.agents.records import encode_run, encode_wake
from engine.agents.users import Record, UserProcessor
from engine.core import CampaignSet
from engine.rules.config import parse_config
from engine.rules.loader import load_campaigns

ROOT = Path(__file__).resolve().parents[3]
START = 1_795_600_800_000  # 2026-11-25T10:00:00Z (a Wednesday)
SUB = {"endpoint": "https://fcm.googleapis.com/fcm/send/x",
       "keys": {"p256dh": "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
                "auth": "BTBZMqHH6r4Tts7J_aSIgg"}}


class Table(dict):
    def load(self, user, record):
        return self.get(user)

    def save(self, result):
        for user, (stored, _record) in result.states.items():
            self[user] = stored.dumps()


@pytest.fixture
def processor():
    campaigns = CampaignSet(load_campaigns([ROOT / "campaigns.d" / "abandoned-cart.yaml",
                                            ROOT / "campaigns.d" / "win-back.yaml"]), parse_config("{}"))
    clock = {"now": START}
    proc = UserProcessor(lambda: campaigns, worker_metrics(), lambda: clock["now"])
    proc.clock = clock
    return proc


def rec(offset, event=None, value=None, headers=(), partition=0, key=b"u1"):
    if event is not None:
        value = orjson.dumps(event)
    return Record(key, value, list(headers), START, partition, offset, "events")


def cart_stream():
    return [
        rec(0, {"user": "u1", "event": "$push_subscribe", "ts": START, "props": SUB}),
        rec(1, {"user": "u1", "event": "Added To Cart", "ts": START + 60_000,
                "props": {"product": "Shoes", "cart_id": "c", "price": 20}}),
    ]


def test_a_wait_becomes_state_and_a_wake_up_sends_once_it_is_due(processor):
    table = Table()
    result = processor.process(cart_stream(), table.load)
    table.save(result)
    stored, _ = result.states["u1"]
    assert stored.state.next_due == START + 660_000 and not result.notifications

    processor.clock["now"] = START + 660_000
    result = processor.process([rec(2, value=encode_wake("u1", START + 660_000)[0],
                                    headers=encode_wake("u1", 0)[1])], table.load)
    assert [(n.campaign, n.at, n.payload["title"]) for n, _p in result.notifications] == [
        ("abandoned-cart", START + 660_000, "Still thinking about Shoes?")]
    assert result.states["u1"][0].state.next_due is None


def test_a_wake_up_from_the_future_does_not_fire_early(processor):
    table = Table()
    table.save(processor.process(cart_stream(), table.load))
    value, headers = encode_wake("u1", START + 3_600_000)  # forged or clock skew: later than now
    result = processor.process([rec(2, value=value, headers=headers)], table.load)
    assert not result.notifications
    assert result.states["u1"][0].state.next_due == START + 660_000


def test_redelivered_records_are_skipped_by_the_stored_offset(processor):
    table = Table()
    table.save(processor.process(cart_stream(), table.load))
    before = table["u1"]
    result = processor.process(cart_stream(), table.load)  # a crash before the offsets were committed
    assert result.states == {} and not result.dead_letters
    assert processor.metrics.replayed._value.get() == 2
    assert table["u1"] == before


def test_the_same_offset_on_another_partition_is_not_a_replay(processor):
    table = Table()
    table.save(processor.process(cart_stream(), table.load))
    moved = rec(1, {"user": "u1", "event": "Viewed", "ts": START}, partition=7)
    assert "u1" in processor.process([moved], table.load).states


def test_bad_records_become_dead_letters_and_the_batch_goes_on(processor):
    table = Table()
    records = [rec(0, value=b"garbage"), *cart_stream()[:1], rec(5, {"user": "u1"})]
    result = processor.process(records, table.load)
    assert [(d.record.offset, d.field) for d in result.dead_letters] == [(0, "value"), (5, "event")]
    assert "u1" in result.states


def test_a_scheduled_run_qualifies_the_user_and_waits_for_local_time(processor):
    table = Table()
    lapsed = [
        rec(0, {"user": "u1", "event": "$push_subscribe", "ts": START, "props": SUB}),
        rec(1, {"user": "u1", "event": "$profile", "ts": START, "props": {"tz": "Europe/Berlin"}}),
        rec(2, {"user": "u1", "event": "Session Started", "ts": START - 20 * 86_400_000}),
    ]
    table.save(processor.process(lapsed, table.load))
    run_at = START + 4 * 86_400_000 + 10 * 3_600_000  # Monday 10:00 at UTC+14 (Sunday 20:00Z)
    value, headers = encode_run("u1", "win-back", "2026-11-30T10:00", run_at)
    result = processor.process([rec(3, value=value, headers=headers)], table.load)
    berlin_ten = START + 5 * 86_400_000 - 3_600_000  # 2026-11-30T09:00Z
    assert result.states["u1"][0].state.next_due == berlin_ten


def test_the_configured_max_event_ahead_holds_on_kafka_too():
    ahead = {"user": "u1", "event": "Viewed", "ts": START + 36 * 3600_000, "props": {}}  # 1.5 days ahead

    def dead_letters(config: str) -> list[str]:
        campaigns = CampaignSet(load_campaigns([ROOT / "campaigns.d" / "abandoned-cart.yaml"]), parse_config(config))
        proc = UserProcessor(lambda: campaigns, worker_metrics(), lambda: START)
        return [letter.field for letter in proc.process([rec(0, ahead)], Table().load).dead_letters]

    assert dead_letters("{}") == ["ts"]  # the default: one day
    assert dead_letters("max_event_ahead: 2d\n") == []
