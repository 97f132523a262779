"""Test sends on the Kafka runtime, without Kafka: the send-test record, the user agent's
decision with the core's `test_send` (limits and status ignored, nothing stored for a
user never seen), and the `test_profiles` question answered per partition."""

from __future__ import annotations

import orjson
import pytest

from engine.shell.metrics import worker_metrics
from engine.agents.reach import (
    TEST_PROFILES_QUESTION, ReachRequest, answer, decode_request, encode_request,
)
from engine.shell.inputs import TestSend
from engine.agents.records import (
    INTERNAL_HEADER, SEND_TEST, StoredState, decode_record, encode_test_send,
)
from engine.agents.users import Record, UserProcessor
from engine.core import EventError, UserState
from engine.core import send_test as core
from engine.rules.model import GlobalConfig
from tests.unit.core_helpers import T0, campaigns
from tests.unit.agents.test_agents_users import Table

SUB = {"endpoint": "https://fcm.googleapis.com/fcm/send/x",
       "keys": {"p256dh": "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
                "auth": "BTBZMqHH6r4Tts7J_aSIgg"}}
XMAS = """
campaign: xmas
status: paused
who: {on: {event: Added To Cart}}
when: {limits: {per_user: {max: 1, per: 30d}}}
what:
  title: "Merry Christmas, {{ profile.name | default: 'friend' }}"
"""


@pytest.fixture
def cs():
    return campaigns(XMAS, config=GlobalConfig(test_users=("qa-config", "qa-never-seen")))


def rec(offset: int, user: str, value: bytes, headers=(), partition: int = 0) -> Record:
    return Record(user.encode(), value, list(headers), T0, partition, offset, "events")


def event(offset: int, user: str, name: str, props: dict) -> Record:
    return rec(offset, user, orjson.dumps({"user": user, "event": name, "ts": T0, "props": props}))


def send_test_record(offset: int, user: str, request: str = "r1", campaign: str = "xmas") -> Record:
    value, headers = encode_test_send(user, campaign, request, T0 + 5_000)
    return rec(offset, user, value, headers)


def test_the_record_round_trips_and_a_malformed_one_is_a_dead_letter():
    value, headers = encode_test_send("qa-1", "xmas", "r1", T0)
    assert headers == [(INTERNAL_HEADER, SEND_TEST)]
    assert decode_record(b"qa-1", value, headers, 0) == TestSend("qa-1", "xmas", "r1", T0)
    with pytest.raises(EventError, match="malformed internal send-test record"):
        decode_record(b"qa-1", orjson.dumps({"user": "qa-1", "campaign": "xmas"}), headers, 0)


def test_the_decision_ignores_status_and_limits_and_is_a_new_message_per_request(cs):
    state = UserState("qa-1", profile={"test": True, "name": "Quinn"})
    state.subscriptions[SUB["endpoint"]] = (SUB["keys"]["p256dh"], SUB["keys"]["auth"])
    first, result = core.test_send(state, TestSend("qa-1", "xmas", "r1", T0), T0, cs)
    (notify,) = first.items
    assert result["sent"] and notify.test and notify.payload["title"] == "Merry Christmas, Quinn"
    _, again = core.test_send(state, TestSend("qa-1", "xmas", "r2", T0), T0, cs)
    assert again["message"] != result["message"]
    assert state.sent == []  # never uses up the campaign's limit
    customer = UserState("customer", subscriptions=dict(state.subscriptions))
    effects, refused = core.test_send(customer, TestSend("customer", "xmas", "r1", T0), T0, cs)
    assert not effects.items and refused["reason"] == "not_a_test_profile"


def test_the_user_agent_sends_to_a_test_profile_and_answers_every_request(cs):
    metrics = worker_metrics()
    processor = UserProcessor(lambda: cs, metrics, lambda: T0)
    table = Table()
    table.save(processor.process([
        event(0, "qa-1", "$push_subscribe", SUB), event(1, "qa-1", "$profile", {"test": True, "name": "Quinn"}),
        event(2, "customer", "$push_subscribe", SUB),
    ], table.load))
    stored_before = dict(table)

    result = processor.process([send_test_record(3, "qa-1"), send_test_record(4, "customer"),
                                send_test_record(5, "qa-never-seen"), send_test_record(6, "stranger")], table.load)
    table.save(result)
    ((notify, partition),) = result.notifications
    assert (notify.user, notify.test, notify.at, partition) == ("qa-1", True, T0 + 5_000, 0)
    replies = {r["user"]: r for r in result.test_replies}
    assert replies["qa-1"]["sent"] and replies["qa-1"]["message"] == notify.message_id
    assert all(r["request"] == "r1" for r in replies.values())
    assert (replies["customer"]["reason"], replies["qa-never-seen"]["reason"], replies["stranger"]["reason"]) == (
        "not_a_test_profile", "no_subscription", "not_a_test_profile")
    assert "qa-never-seen" not in table and "stranger" not in table  # no state made for the asking
    assert StoredState.loads(table["qa-1"]).state.sent == StoredState.loads(stored_before["qa-1"]).state.sent
    assert metrics.sent.labels("xmas", "true")._value.get() == 1
    assert metrics.sent.labels("xmas", "false")._value.get() == 0  # counted apart

    again = processor.process([send_test_record(3, "qa-1")], table.load)  # redelivered after a crash
    assert not again.notifications and not again.test_replies


def test_each_partition_names_its_own_test_profiles(cs):
    def stored(user, partition, profile, subscribed=True):
        state = UserState(user, profile=profile)
        if subscribed:
            state.subscriptions[SUB["endpoint"]] = (SUB["keys"]["p256dh"], SUB["keys"]["auth"])
        return user.encode(), StoredState(state, partition, 3).dumps()

    table = [stored("qa-1", 0, {"test": True}), stored("qa-config", 1, {}), stored("customer", 0, {"plan": "test"}),
             stored("tricky", 0, {"note": '"test":true'}), stored("qa-2", 1, {"test": True}, subscribed=False)]
    value, headers = encode_request("r1", "xmas", T0, TEST_PROFILES_QUESTION)
    request = decode_request(value, 0)
    assert request == ReachRequest("r1", "xmas", T0, 0, TEST_PROFILES_QUESTION)
    replies = answer([request, ReachRequest("r1", "xmas", T0, 1, TEST_PROFILES_QUESTION)], table, cs)
    assert [r["test_users"] for r in replies] == [["qa-1"], ["qa-2", "qa-config"]]
    assert replies[0]["configured"] == ["qa-config", "qa-never-seen"]
    (unknown,) = answer([ReachRequest("r1", "nope", T0, 0, TEST_PROFILES_QUESTION)], table, cs)
    assert "no campaign 'nope'" in unknown["error"]
    with pytest.raises(ValueError, match="question: unknown 'who'"):
        decode_request(orjson.dumps({"request": "r", "campaign": "xmas", "at": 1, "question": "who"}), 0)
