"""`pushcast produce`: each line checked as `pushcast run --events` checks it; refused
lines are named by number and field, the others keyed by their user."""

import orjson

from connectors.push import AllowList
from engine.cli_produce import read_events

SUB = {"endpoint": "https://fcm.googleapis.com/fcm/send/x",
       "keys": {"p256dh": "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
                "auth": "BTBZMqHH6r4Tts7J_aSIgg"}}


def test_good_lines_are_keyed_by_user_and_bad_ones_named_by_line_and_field():
    lines = [
        orjson.dumps({"user": "u-1", "event": "$push_subscribe", "props": SUB}),
        b"",
        b"{not json",
        orjson.dumps({"user": "u-2", "event": "$push_subscribe",
                      "props": {**SUB, "endpoint": "https://10.0.0.1/push"}}),
        orjson.dumps({"user": "u-3", "event": "$notification_sent"}),
        orjson.dumps({"event": "Viewed Product"}),
        orjson.dumps({"user": "u-1", "event": "Notifications Enabled"}),
    ]
    records, problems = read_events(lines, AllowList())
    assert [(key, orjson.loads(value)["event"]) for key, value in records] == [
        (b"u-1", "$push_subscribe"), (b"u-1", "Notifications Enabled")]
    assert [p.split(":")[0] for p in problems] == ["line 3", "line 4", "line 5", "line 6"]
    assert problems[0].startswith("line 3: invalid JSON")
    assert problems[1].startswith("line 4: props.endpoint")
    assert "emitted by pushcast itself" in problems[2]
    assert problems[3].startswith("line 6: user")
