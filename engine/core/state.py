"""One user's state: profile, subscriptions, aggregates, pending waits, send history.

Kept small and JSON-serialisable (orjson) because it is stored per user in a table or
on disk. Field names in the stored form are short on purpose: a 100-million-user base
pays for every byte.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson


# Slotted: the core builds a Wait per trigger and a Sent per send, and reads their fields
# on every firing and limit check (slots are faster to build and to read).
@dataclass(slots=True)
class Wait:
    """A pending decision for one campaign, due at `due` (epoch ms).

    kind: `inaction` (cancelled by the `unless` event, then delivered), `deliver`
    (a delay, a date reminder or a DND hold: delivered when due), `queued` (held by a
    frequency limit with `on_limit: queue`: tried again when the limits free).
    """

    campaign: str
    kind: str
    due: int
    message_id: str
    event: str  # the trigger event's name and props, for personalisation
    props: dict
    key: str = ""  # inaction: the `match` values, so each cart has its own wait
    attempted: bool = False  # a DND hold: already counted as qualified
    held: int = 0  # epoch ms a limit first held the message (on_limit: queue); 0: never

    def to_list(self) -> list:
        row = [self.campaign, self.kind, self.due, self.message_id, self.event, self.props, self.key, self.attempted]
        if self.held:  # rows of messages never held keep the older, shorter form
            row.append(self.held)
        return row

    @classmethod
    def from_list(cls, row: list) -> "Wait":
        return cls(*row)


@dataclass(slots=True)
class Sent:
    """A message sent to the user: for limits and conversion attribution."""

    campaign: str
    message_id: str
    at: int
    delivered: int = 0  # epoch ms of the first delivery report, 0: none
    clicked: int = 0
    converted: bool = False
    counts_global: bool = True  # False for test sends
    variant: str | None = None  # the A/B variant (or control) it was decided for
    control: bool = False  # a holdout user's entry: nothing was sent, no limit counts it

    def to_list(self) -> list:
        row = [self.campaign, self.message_id, self.at, self.delivered, self.clicked, self.converted, self.counts_global]
        if self.variant is not None:  # rows without variants stay as short as before
            row += [self.variant, self.control]
        return row

    @classmethod
    def from_list(cls, row: list) -> "Sent":
        return cls(*row)


@dataclass
class UserState:
    user: str
    profile: dict = field(default_factory=dict)
    subscriptions: dict = field(default_factory=dict)  # endpoint -> [p256dh, auth]
    counters: dict = field(default_factory=dict)  # aggregate id -> timestamps | count
    waits: list[Wait] = field(default_factory=list)
    sent: list[Sent] = field(default_factory=list)
    hours: list[int] = field(default_factory=list)  # engine/core/best_time.py: [day, 24 weights]
    ignored: list[int] = field(default_factory=list)  # fatigue: [pushes since the last click, paused until ms]
    # The last decisions about this user, oldest first: compact rows (engine.core.decisions).
    decisions: list[tuple | list] = field(default_factory=list)  # lists when read back

    @property
    def next_due(self) -> int | None:
        waits = self.waits
        if not waits:
            return None
        due = waits[0].due
        for wait in waits:  # a user holds a few waits: a loop beats min() over a generator
            if wait.due < due:
                due = wait.due
        return due

    def to_dict(self) -> dict:
        data: dict = {"u": self.user}
        if self.profile:
            data["p"] = self.profile
        if self.subscriptions:
            data["s"] = self.subscriptions
        if self.counters:
            data["c"] = self.counters
        if self.waits:
            data["w"] = [w.to_list() for w in self.waits]
        if self.sent:
            data["h"] = [s.to_list() for s in self.sent]
        if self.hours:
            data["t"] = self.hours
        if self.ignored:
            data["f"] = self.ignored
        if self.decisions:
            data["d"] = self.decisions
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "UserState":
        return cls(
            user=data["u"],
            profile=data.get("p", {}),
            subscriptions=data.get("s", {}),
            counters=data.get("c", {}),
            waits=[Wait.from_list(row) for row in data.get("w", ())],
            sent=[Sent.from_list(row) for row in data.get("h", ())],
            hours=data.get("t", []),
            ignored=data.get("f", []),
            decisions=data.get("d", []),
        )

    def dumps(self) -> bytes:
        return orjson.dumps(self.to_dict())

    @classmethod
    def loads(cls, raw: bytes) -> "UserState":
        return cls.from_dict(orjson.loads(raw))
