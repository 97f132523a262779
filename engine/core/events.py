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
# The range of an event's `ts`. Before 2000 is a unit mistake (seconds for milliseconds)
# or junk; the hard ceiling (end of year 9999, what ISO 8601 can write) keeps every due
# time computed from `ts` inside 64 bits, where the stores can save it. Callers that know
# the arrival time also refuse what is more than `max_ahead_ms` after it (a day by
# default, `max_event_ahead` in pushcast.yaml): a far-future `ts` would hold a user's
# waits and windows hostage until then.
MIN_TS_MS = 946_684_800_000  # 2000-01-01T00:00:00Z
MAX_TS_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
DEFAULT_MAX_AHEAD_MS = 86_400_000


class EventError(PushcastError):
    """A malformed event. `field` names what is wrong, for a 400 or a dead letter.

    Its text is logged (dead letters, file lines), so control characters from the input
    (a newline in a key forges a log line) are escaped in it."""

    def __init__(self, field_name: str, message: str):
        super().__init__(escape_controls(f"{field_name}: {message}"))
        self.field = field_name


_CONTROLS = {c: f"\\x{c:02x}" for c in [*range(0x20), 0x7F]} | {
    c: f"\\u{c:04x}" for c in [*range(0x80, 0xA0), 0x2028, 0x2029]}


def escape_controls(text: str) -> str:
    """`text` with control characters (and line separators) as visible escapes."""
    return text.translate(_CONTROLS)


@dataclass(frozen=True)
class Event:
    user: str
    name: str
    ts: int  # epoch ms
    props: dict = field(default_factory=dict)


def parse_ts(value: object, arrival_ms: int, max_ahead_ms: int | None = DEFAULT_MAX_AHEAD_MS) -> int:
    """Epoch ms from ISO 8601 or epoch milliseconds; a missing `ts` is the arrival time.

    Raises EventError("ts") outside [2000-01-01, arrival + max_ahead_ms] (None: no
    bound relative to the arrival, for files of past events with no arrival time).
    """
    if value is None:
        return arrival_ms
    if isinstance(value, bool):
        raise EventError("ts", f"expected ISO 8601 or epoch milliseconds, got {value!r}")
    if isinstance(value, (int, float)):
        if value != value or value in (float("inf"), float("-inf")):  # NaN, infinities
            raise EventError("ts", f"expected ISO 8601 or epoch milliseconds, got {value!r}")
        ts = value if isinstance(value, int) else int(value)
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise EventError("ts", f"expected ISO 8601 or epoch milliseconds, got {value[:64]!r}") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=timezone.utc)
        ts = int(parsed.timestamp() * 1000)
    else:
        raise EventError("ts", f"expected ISO 8601 or epoch milliseconds, got {type(value).__name__}")
    if ts < MIN_TS_MS:
        raise EventError("ts", f"{_shown(value)} is before 2000-01-01 (epoch milliseconds expected)")
    latest = MAX_TS_MS if max_ahead_ms is None else min(MAX_TS_MS, arrival_ms + max_ahead_ms)
    if ts > latest:
        if latest == MAX_TS_MS:
            raise EventError("ts", f"{_shown(value)} is after the year 9999")
        raise EventError("ts", f"{_shown(value)} is more than {_span(max_ahead_ms)} ahead of now "
                               f"({_iso(arrival_ms)}); set max_event_ahead in pushcast.yaml to allow more")
    return ts


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _span(ms: int) -> str:
    if ms % 86_400_000 == 0:
        days = ms // 86_400_000
        return f"{days} day{'s' if days != 1 else ''}"
    return f"{ms // 1000} s"


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_event(raw: object, arrival_ms: int, max_ahead_ms: int | None = DEFAULT_MAX_AHEAD_MS) -> Event:
    """Validate one event object (docs/events.md) into an Event; raises EventError.

    `arrival_ms` is when it came in (the clock, or a Kafka record's timestamp so that a
    replay decides the same): a missing `ts`, and the bound of `max_ahead_ms`."""
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
    return Event(raw["user"], name, parse_ts(raw.get("ts"), arrival_ms, max_ahead_ms), props)
