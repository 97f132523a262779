"""User events: the input of the core, validated from the public JSON form."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from engine.rules.errors import PushcastError

SYSTEM_EVENTS = frozenset({
    "$profile", "$push_subscribe", "$push_unsubscribe", "$notification_shown",
    "$notification_clicked", "$notification_sent", "$notification_failed",
})
MAX_ID_LENGTH = 256


class EventError(PushcastError):
    """A malformed event. `field` names what is wrong, for a 400 or a dead letter."""

    def __init__(self, field_name: str, message: str):
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


@dataclass(frozen=True)
class Event:
    user: str
    name: str
    ts: int  # epoch ms
    props: dict = field(default_factory=dict)


def parse_ts(value: object, arrival_ms: int) -> int:
    if value is None:
        return arrival_ms
    if isinstance(value, bool):
        raise EventError("ts", f"expected ISO 8601 or epoch milliseconds, got {value!r}")
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise EventError("ts", f"expected ISO 8601 or epoch milliseconds, got {value!r}") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=timezone.utc)
        return int(parsed.timestamp() * 1000)
    raise EventError("ts", f"expected ISO 8601 or epoch milliseconds, got {type(value).__name__}")


def parse_event(raw: object, arrival_ms: int) -> Event:
    """Validate one event object (FORMATS.md) into an Event; raises EventError."""
    if not isinstance(raw, dict):
        raise EventError("event", f"expected a JSON object, got {type(raw).__name__}")
    unknown = set(raw) - {"user", "event", "ts", "props"}
    if unknown:
        raise EventError(sorted(unknown)[0], "unknown key (allowed: user, event, ts, props)")
    for key in ("user", "event"):
        value = raw.get(key)
        if not isinstance(value, str) or not value:
            raise EventError(key, f"required, a non-empty string (got {value!r})")
        if len(value) > MAX_ID_LENGTH:
            raise EventError(key, f"longer than {MAX_ID_LENGTH} characters")
        if "\x00" in value:  # the Kafka runtime keeps its own entries under NUL-led keys
            raise EventError(key, "must not contain the NUL character")
    name = raw["event"]
    if name.startswith("$") and name not in SYSTEM_EVENTS:
        raise EventError("event", f"unknown reserved event {name!r} (names starting with $ are reserved)")
    props = raw.get("props", {})
    if props is None:
        props = {}
    if not isinstance(props, dict):
        raise EventError("props", f"expected an object, got {type(props).__name__}")
    return Event(raw["user"], name, parse_ts(raw.get("ts"), arrival_ms), props)
