"""What travels on the Kafka topics, and the stored form of a user's state.

- events topic: a user's JSON event (docs/events.md), or an internal record (a Kafka header
  `pushcast-internal`: `wake`, `run`, `partition-run`, `send-test` or `results`) that only
  pushcast writes: a wake-up for a due wait, one user's share of a scheduled run, a
  scheduled run over every user of the partition it is in (partition_runs.py), a test
  send to one user (see send_test.py), or the delivery results of one sender batch for the
  users of the partition (`{"results": [event, ...]}`, encode_results). Internal records
  are not JSON events, so no producer of user events (HTTP, files) can express one.
- sends topic: per user-agent batch and sends partition, a JSON array of `Notify` objects,
  each with the partition of the user's events (`p`), so that delivery reports go back to
  the partition that holds the user's state (`encode_sends`); before, one `Notify` object
  per record, which the sender still reads (`decode_sends`).
- dead-letter topic: the original key and bytes, unchanged, with the reason in headers
  (the Kafka Connect convention), so a fixed record can be produced again as it is.
- state table value: a one-line header `partition offset next_due [messages]`, then the
  core's `UserState.dumps()`. The offset makes replays after a crash idempotent (a record
  at or below it was applied already); `next_due` lets a worker rebuild its wake index
  without parsing every state; `messages` (compact JSON, only when there are some) is
  the worker's memory of the user's recent messages, so that each delivery result and
  report is counted once (outcomes.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import orjson
from aiokafka.partitioner import murmur2

from engine.agents.outcomes import RESULTS as OUTCOME_RESULTS
from engine.core import Event, EventError, Notify, Subscription, UserState, parse_event
from engine.core.events import DEFAULT_MAX_AHEAD_MS
from engine.shell.inputs import ScheduledRun, TestSend, WakeUp
from engine.shell.tracking import sign

INTERNAL_HEADER = "pushcast-internal"
WAKE = b"wake"
RUN = b"run"
SEND_TEST = b"send-test"
SCHEDULE_CURSOR = b"schedule-cursor"
PARTITION_RUN = b"partition-run"
DLQ_REASON = "pushcast-dlq-reason"
DLQ_FIELD = "pushcast-dlq-field"
DLQ_SOURCE = "pushcast-dlq-source"  # topic/partition/offset of the original record


def header(headers, name: str) -> bytes | None:
    """A header's value from faust's headers (a mapping or a list of pairs)."""
    if not headers:
        return None
    items = headers.items() if hasattr(headers, "items") else headers
    for key, value in items:
        if key == name:
            return value
    return None


def decode_record(key: bytes | None, value: bytes | None, headers, timestamp_ms: int,
                  max_ahead_ms: int = DEFAULT_MAX_AHEAD_MS) -> Event | WakeUp | ScheduledRun | TestSend:
    """One events-topic record; raises EventError (with `.field`) for a dead letter.

    A missing `ts` is the record's Kafka timestamp, and a `ts` may be at most
    `max_ahead_ms` after it (pushcast.yaml `max_event_ahead`): the same on every replay,
    so decisions and message ids stay deterministic.
    """
    if value is None:
        raise EventError("value", "empty record (no value)")
    try:
        raw = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise EventError("value", f"not JSON: {exc}") from None
    kind = header(headers, INTERNAL_HEADER)
    if kind is not None:
        return _decode_internal(kind, raw)
    event = parse_event(raw, timestamp_ms, max_ahead_ms)
    if key is not None:
        try:
            key_text = key.decode() if isinstance(key, (bytes, bytearray)) else str(key)
        except UnicodeDecodeError:
            raise EventError("key", "the Kafka key is not UTF-8 (it must be the user id)") from None
        if key_text != event.user:
            raise EventError("key", f"the Kafka key {key_text!r} is not the event's user {event.user!r}")
    return event


def _decode_internal(kind: bytes, raw: object) -> WakeUp | ScheduledRun | TestSend:
    try:
        if kind == WAKE:
            return WakeUp(str(raw["user"]), int(raw["at"]))
        if kind == RUN:
            return ScheduledRun(str(raw["user"]), str(raw["campaign"]), str(raw["slot"]), int(raw["at"]))
        if kind == SEND_TEST:
            return TestSend(str(raw["user"]), str(raw["campaign"]), str(raw["request"]), int(raw["at"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise EventError("value", f"malformed internal {kind.decode(errors='replace')} record: {exc!r}") from None
    raise EventError(INTERNAL_HEADER, f"unknown internal record kind {kind!r}")


def encode_wake(user: str, at: int) -> tuple[bytes, list[tuple[str, bytes]]]:
    return orjson.dumps({"user": user, "at": at}), [(INTERNAL_HEADER, WAKE)]


def encode_run(user: str, campaign: str, slot: str, at: int) -> tuple[bytes, list[tuple[str, bytes]]]:
    return orjson.dumps({"user": user, "campaign": campaign, "slot": slot, "at": at}), [(INTERNAL_HEADER, RUN)]


def encode_test_send(user: str, campaign: str, request: str, at: int) -> tuple[bytes, list[tuple[str, bytes]]]:
    return (orjson.dumps({"user": user, "campaign": campaign, "request": request, "at": at}),
            [(INTERNAL_HEADER, SEND_TEST)])


def encode_schedule_cursor(campaign: str, at: int) -> tuple[bytes, list[tuple[str, bytes]]]:
    """The run of `campaign` at `at` is made over the partition this record goes to."""
    return orjson.dumps({"campaign": campaign, "at": at}), [(INTERNAL_HEADER, SCHEDULE_CURSOR)]


def is_schedule_cursor(headers) -> bool:
    return header(headers, INTERNAL_HEADER) == SCHEDULE_CURSOR


def decode_schedule_cursor(value: bytes | None) -> tuple[str, int]:
    raw = orjson.loads(value or b"null")
    return str(raw["campaign"]), int(raw["at"])


def encode_partition_run(campaign: str, slot: str, at: int,
                         step: int | None = None) -> tuple[bytes, list[tuple[str, bytes]]]:
    """The run of `campaign` at `at` (wall-time `slot`), over the users of the partition
    this record goes to: its announcement, or (`step`: 1, 2, ...) a continuation of the
    run under way, the step numbered so (partition_runs.py)."""
    raw = {"campaign": campaign, "slot": slot, "at": at}
    if step is not None:
        raw["step"] = step
    return orjson.dumps(raw), [(INTERNAL_HEADER, PARTITION_RUN)]


def is_partition_run(headers) -> bool:
    return header(headers, INTERNAL_HEADER) == PARTITION_RUN


def decode_partition_run(value: bytes | None) -> tuple[str, str, int, int | None]:
    """(campaign, slot, at, step) of a partition-run record (step None: the announcement);
    raises on a malformed one."""
    raw = orjson.loads(value or b"null")
    step = raw.get("step")
    if step is None and "after" in raw:  # a continuation made before steps were numbered
        step = 0  # (partition_runs.read_progress)
    return str(raw["campaign"]), str(raw["slot"]), int(raw["at"]), None if step is None else int(step)


def encode_notify(notify: Notify, partition: int, secret: bytes | None = None) -> bytes:
    """`secret`: sign the payload as the embedded runtime does (`user` and `sig`), so a
    gateway can check the service worker's reports (engine/agents/track_secret.py)."""
    payload = notify.payload
    if secret is not None:
        sig = sign(secret, notify.message_id, notify.campaign, notify.user, notify.variant)
        payload = {**payload, "user": notify.user, "sig": sig}
    return orjson.dumps({
        "id": notify.message_id, "campaign": notify.campaign, "user": notify.user, "at": notify.at,
        "payload": payload, "subs": [[s.endpoint, s.p256dh, s.auth] for s in notify.subscriptions],
        "ttl": notify.ttl, "urgency": notify.urgency, "test": notify.test, "p": partition,
        **({"variant": notify.variant} if notify.variant is not None else {}),
    })


def decode_notify(value: bytes) -> tuple[Notify, int]:
    """One notification's JSON (`encode_notify`): the Notify and the partition of the user's events."""
    return _notify(orjson.loads(value))


def _notify(raw: dict) -> tuple[Notify, int]:
    subs = tuple(Subscription(*row) for row in raw["subs"])
    notify = Notify(raw["id"], raw["campaign"], raw["user"], int(raw["at"]), raw["payload"], subs,
                    int(raw["ttl"]), raw.get("urgency", "normal"), bool(raw.get("test", False)), raw.get("variant"))
    return notify, int(raw["p"])


# A batched record's value (sends, results) at most: well under Kafka's default
# max.message.bytes and the producer's max request size (both ~1 MB, headers and framing
# included); a batch's items for one partition past this go in more records.
RECORD_MAX_BYTES = 256 * 1024


def _chunks(items: list[bytes], limit: int, frame: int) -> list[list[bytes]]:
    """`items` (JSON texts) in order, in as few runs as keep each joined with commas,
    plus `frame` bytes around it, within `limit` (an item larger than that alone)."""
    chunks: list[list[bytes]] = [[]]
    size = frame
    for item in items:
        if chunks[-1] and size + 1 + len(item) > limit:  # 1: the comma before it
            chunks.append([])
            size = frame
        size += len(item) + (1 if len(chunks[-1]) else 0)
        chunks[-1].append(item)
    return chunks


def sends_partition(user: str, partitions: int) -> int:
    """The sends partition of a user's notifications: the one the user id as the record key
    gave (Kafka's default partitioner, murmur2), as when each notification was its own
    record keyed by user. So a user's sends stay in one partition, in order, even across
    the upgrade (the records already in the topic are in that partition too), and every
    sends partition has work even with more of them than events partitions (which the
    events partition `p % partitions` would leave idle)."""
    return (murmur2(user.encode()) & 0x7FFFFFFF) % partitions


def encode_sends(notifications: Iterable[tuple[Notify, int]], partitions: int, secret: bytes | None = None,
                 max_bytes: int = RECORD_MAX_BYTES) -> list[tuple[int, bytes]]:
    """The sends records of a batch's (notify, events partition) pairs: (sends partition,
    value), the value a JSON array of `encode_notify` objects in decision order, at most
    `max_bytes` (a notification larger than that alone)."""
    by_partition: dict[int, list[bytes]] = {}
    for notify, events_partition in notifications:
        by_partition.setdefault(sends_partition(notify.user, partitions), []).append(
            encode_notify(notify, events_partition, secret))
    return [(partition, b"[" + b",".join(chunk) + b"]")
            for partition, items in by_partition.items() for chunk in _chunks(items, max_bytes, 2)]


@dataclass(frozen=True)
class MalformedSend:
    """A notification of a sends record that is not one, as a record of its own: its user
    as the key if it names one, its JSON as the value (the one-notification form, so that
    a fixed one can be produced again as it is), and why."""

    key: bytes | None
    value: bytes
    reason: str


def decode_sends(value: bytes) -> tuple[list[tuple[Notify, int]], list[MalformedSend]]:
    """A sends-topic record of either form, an array of notifications (`encode_sends`) or
    one notification (`encode_notify`, the records of before): its (notify, events
    partition) pairs, and the array's malformed notifications, which do not stop the
    others. Raises for a record that is neither (none of it can be sent)."""
    raw = orjson.loads(value)
    if isinstance(raw, dict):
        return [_notify(raw)], []
    if not isinstance(raw, list):
        raise ValueError(f"a sends record is a JSON array or object, not {type(raw).__name__}")
    found, malformed = [], []
    for i, item in enumerate(raw):
        try:
            found.append(_notify(item))
        except Exception as exc:  # anything a hand-made record may hold: this one is not sent
            user = item.get("user") if isinstance(item, dict) else None
            malformed.append(MalformedSend(user.encode() if isinstance(user, str) else None, orjson.dumps(item),
                                           f"notification {i + 1} of {len(raw)} in the record: {exc!r}"))
    return found, malformed


@dataclass
class StoredState:
    """A user's state as kept in the table, with its replay guard."""

    state: UserState
    partition: int = -1
    offset: int = -1  # the last events-topic offset applied to this state
    messages: dict = field(default_factory=dict)  # message id -> outcomes.py's entry

    def dumps(self) -> bytes:
        due = self.state.next_due
        head = b"%d %d %s" % (self.partition, self.offset, b"-" if due is None else b"%d" % due)
        if self.messages:  # orjson writes no newline: the header stays one line
            head += b" " + orjson.dumps(self.messages)
        return head + b"\n" + self.state.dumps()

    @classmethod
    def loads(cls, raw: bytes) -> "StoredState":
        end = raw.index(b"\n")
        return cls._with(raw, end, UserState.loads(raw[end + 1:]))

    @classmethod
    def with_body(cls, raw: bytes, body: dict) -> "StoredState":
        """A stored value whose state (after its header line) was parsed already, into
        `body` (a scheduled run parses it to check the segment: not twice)."""
        return cls._with(raw, raw.index(b"\n"), UserState.from_dict(body))

    @classmethod
    def _with(cls, raw: bytes, end: int, state: UserState) -> "StoredState":
        fields = raw[:end].split(b" ", 3)
        messages = orjson.loads(fields[3]) if len(fields) > 3 else {}
        return cls(state, int(fields[0]), int(fields[1]), messages)


def peek_due(raw: bytes) -> tuple[int, int | None]:
    """(partition, next_due) from a stored value, reading only its header."""
    head = raw[: raw.index(b"\n")]
    partition, _offset, due = head.split(b" ", 3)[:3]
    return int(partition), None if due == b"-" else int(due)


# --- the sender's delivery results: one record per sender batch and events partition ---

RESULTS = b"results"
RESULT_EVENTS = frozenset(OUTCOME_RESULTS)


def encode_results(results: list[tuple[dict, int]],
                   limit: int = RECORD_MAX_BYTES) -> list[tuple[int, bytes, int, list[tuple[str, bytes]]]]:
    """The sender's (result event, events partition) pairs as internal `results` records:
    (partition, value, timestamp ms, headers) each, a partition's events in their order,
    in as few records as keep a value under `limit` bytes. The timestamp is the latest
    `ts` of its events (the user agent bounds an event's `ts` by its record's time)."""
    by_partition: dict[int, list[bytes]] = {}
    ts_of: dict[bytes, int] = {}  # an event's text -> its ts (the same text, the same ts)
    for event, partition in results:
        raw = orjson.dumps(event)
        by_partition.setdefault(partition, []).append(raw)
        ts_of[raw] = int(event["ts"])
    frame = len(_results_value([]))
    return [(partition, _results_value(chunk), max(ts_of[raw] for raw in chunk), [(INTERNAL_HEADER, RESULTS)])
            for partition, encoded in by_partition.items() for chunk in _chunks(encoded, limit, frame)]


def _results_value(events: list[bytes]) -> bytes:
    return b'{"results":[' + b",".join(events) + b"]}"


def is_results(headers) -> bool:
    return header(headers, INTERNAL_HEADER) == RESULTS


def decode_results(value: bytes | None) -> list[dict]:
    """The result events of a `results` record, each still to be parsed (`parse_result`);
    raises EventError for a record that is not one."""
    try:
        raw = orjson.loads(value or b"null")
    except orjson.JSONDecodeError as exc:
        raise EventError("value", f"malformed internal results record: not JSON: {exc}") from None
    events = raw.get("results") if isinstance(raw, dict) else None
    if not isinstance(events, list) or not events:
        raise EventError("value", "malformed internal results record: expected {\"results\": [event, ...]}")
    return events


def parse_result(raw: object, timestamp_ms: int, max_ahead_ms: int = DEFAULT_MAX_AHEAD_MS) -> Event:
    """One event of a results record, as `decode_record` parses a plain event, and only
    a delivery result."""
    event = parse_event(raw, timestamp_ms, max_ahead_ms)
    if event.name not in RESULT_EVENTS:
        raise EventError("event", f"{event.name!r} is not a delivery result (expected one of {sorted(RESULT_EVENTS)})")
    return event


def result_events(value: bytes | None, headers) -> list[dict]:
    """The delivery result events an events-topic record carries, in either form: a
    `results` record's, or a plain result event (the form before results were batched,
    and still in the topic after an upgrade); none for any other record."""
    if is_results(headers):
        return [e for e in decode_results(value) if isinstance(e, dict)]
    if header(headers, INTERNAL_HEADER) is not None or not value or not value.startswith(b"{"):
        return []
    try:
        raw = orjson.loads(value)
    except orjson.JSONDecodeError:
        return []
    return [raw] if isinstance(raw, dict) and raw.get("event") in RESULT_EVENTS else []
