"""PushMessage validation and SendResult -> events (docs/events.md)."""

import pytest

from connectors.push import MessageError, PushMessage, SendResult, Subscription

SUB = Subscription(
    "https://fcm.googleapis.com/fcm/send/x",
    "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
    "BTBZMqHH6r4Tts7J_aSIgg",
)


def message(**overrides):
    fields = dict(message_id="m-1", campaign="cart", user="u-42", subscription=SUB,
                  payload={"title": "Hi"}, ttl=3600)
    fields.update(overrides)
    return PushMessage(**fields)


@pytest.mark.parametrize(
    "overrides, words",
    [
        ({"urgency": "urgent"}, "urgency: expected one of very-low, low, normal, high"),
        ({"ttl": -1}, "ttl"),
        ({"ttl": 10**9}, "ttl"),
        ({"ttl": 1.5}, "ttl"),
        ({"ttl": True}, "ttl"),
        ({"message_id": ""}, "message_id"),
        ({"subscription": SUB.to_json()}, "subscription: expected a Subscription"),
    ],
)
def test_invalid_fields_are_refused(overrides, words):
    with pytest.raises(MessageError, match=words):
        message(**overrides)


def test_sent_is_one_event():
    result = SendResult(message(), "sent", 201, "", 1, 0.05)
    assert result.to_events(1_764_064_800_000) == [
        {
            "user": "u-42",
            "event": "$notification_sent",
            "ts": 1_764_064_800_000,
            "props": {"message": "m-1", "campaign": "cart", "endpoint": SUB.endpoint, "status": 201},
        }
    ]


def test_failed_carries_status_and_reason():
    result = SendResult(message(), "failed", 413, "413 Payload Too Large: too big", 1, 0.05)
    (event,) = result.to_events(5)
    assert event["event"] == "$notification_failed"
    assert event["props"] == {
        "message": "m-1", "campaign": "cart", "endpoint": SUB.endpoint,
        "status": 413, "reason": "413 Payload Too Large: too big",
    }


def test_unsubscribed_also_removes_the_subscription():
    result = SendResult(message(), "unsubscribed", 410, "410 Gone", 1, 0.05)
    failed, unsubscribe = result.to_events(7)
    assert failed["event"] == "$notification_failed" and failed["props"]["status"] == 410
    assert unsubscribe["event"] == "$push_unsubscribe"
    assert unsubscribe["user"] == "u-42" and unsubscribe["ts"] == 7
    assert unsubscribe["props"]["endpoint"] == SUB.endpoint
