"""User-supplied text reaches the logs escaped: a newline or a terminal escape in a user
id or a key cannot forge a log line or repaint the operator's terminal."""

from __future__ import annotations

import logging

import orjson
import pytest

from connectors.push import AllowList
from engine.core import Event, EventError, parse_event
from engine.local.events_file import EventFileReader
from tests.unit.core_helpers import SUBSCRIPTION, T0
from tests.unit.local_helpers import Running, make_runtime

EVIL = "mallory\n2026-12-01 INFO pushcast: admin token is \x1b[31mhunter2\x1b[0m"
NEEDS_NAME = """
campaign: hello
who: {on: {event: Hello}}
what: {title: "Hi {{ profile.name }}"}
"""


def assert_clean(lines: list[str]) -> None:
    assert lines
    for line in lines:
        assert "\n" not in line and "\x1b" not in line, line


def test_an_event_error_escapes_what_it_quotes():
    with pytest.raises(EventError) as info:
        parse_event({"user": "u1", "event": "X", EVIL: 1}, T0)
    assert_clean([str(info.value)])
    assert "\\x0a" in str(info.value) and info.value.field == EVIL  # the field itself, for the 400


async def test_a_render_error_logs_the_user_id_escaped(tmp_path, caplog):
    runtime = make_runtime(tmp_path / "state", NEEDS_NAME)
    running = Running(runtime)
    try:
        with caplog.at_level(logging.WARNING, "pushcast.runtime"):
            await runtime.submit([Event(EVIL, "$push_subscribe", T0, SUBSCRIPTION), Event(EVIL, "Hello", T0, {})])
        lines = [r.getMessage() for r in caplog.records if "not sent" in r.getMessage()]
        assert_clean(lines)
        assert "mallory\\n2026" in lines[0]
    finally:
        await running.stop()


async def test_a_rejected_file_line_is_logged_escaped(tmp_path, caplog):
    events = tmp_path / "events.ndjson"
    events.write_bytes(orjson.dumps({"user": "u1", "event": "X", "ts": T0, EVIL: 1}) + b"\n")
    runtime = make_runtime(tmp_path / "state")
    running = Running(runtime)
    try:
        with caplog.at_level(logging.WARNING, "pushcast.events"):
            await EventFileReader(runtime, str(events), AllowList()).run()
        assert_clean([r.getMessage() for r in caplog.records if "rejected" in r.getMessage()])
    finally:
        await running.stop()
