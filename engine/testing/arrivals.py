"""What arrived at the push-service emulator, step by step, as the fields a campaign
test's expectations name.

Campaign test files carry made-up subscription endpoints. Each (user, endpoint) a file
subscribes gets a fresh emulator subscription instead (`substitute`), so a push that
arrives belongs to exactly one user. After every clock step the runner calls
`collect(at)`: each payload new since the last call arrived during that step, at `at`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from connectors.push.declarative import DECLARATIVE_WEB_PUSH, classic_payload, is_apple_push_service
from engine.testing.emulator import PushEmulator
from engine.testing.plan import SUBSCRIPTION_EVENTS, split_user
from engine.testing.recorder import RecordingProxy

HIDDEN = ("sig",)  # the tracking signature differs per runtime secret; no test names it


@dataclass
class Arrival:
    case: int
    fields: dict  # notification_fields' keys, user as the test file names it
    at_ms: int


@dataclass
class Deliveries:
    emulator: PushEmulator
    proxy: RecordingProxy
    public_key: str  # the VAPID applicationServerKey the runtime signs with
    start: int  # the suite's start (epoch ms): `at` is counted from it
    subscriptions: dict[tuple[str, str], dict] = field(default_factory=dict)  # (user, file endpoint) -> emulator's
    seen: dict[str, int] = field(default_factory=dict)  # client hash -> payloads already collected
    arrivals: list[Arrival] = field(default_factory=list)
    problems: list[tuple[int | None, str]] = field(default_factory=list)  # (case or None, what went wrong)
    _messages: set[tuple[str, str]] = field(default_factory=set)  # (user, message id)
    _pushes: set[tuple[str, str]] = field(default_factory=set)  # (client hash, message id)

    def substitute(self, record: dict) -> dict:
        """The event with the file's endpoint replaced by this user's emulator subscription."""
        if record["event"] not in SUBSCRIPTION_EVENTS or not isinstance(record["props"].get("endpoint"), str):
            return record
        key = (record["user"], record["props"]["endpoint"])
        sub = self.subscriptions.get(key)
        if sub is None:
            if record["event"] != "$push_subscribe":
                return record  # unsubscribing what was never subscribed: the runtime decides
            sub = self.subscriptions[key] = self.emulator.subscribe(self.public_key)
            self.seen[sub["clientHash"]] = 0
        apple = is_apple_push_service(record["props"]["endpoint"])  # sent to the recorder's stand-in for Apple's
        props = dict(record["props"], endpoint=self.proxy.endpoint(sub["endpoint"], apple))
        if "keys" in props:
            props["keys"] = dict(sub["keys"])
        return dict(record, props=props)

    def collect(self, at_ms: int) -> int:
        """Record every payload that arrived since the last call as arrived at `at_ms`."""
        count = 0
        for (user, _endpoint), sub in self.subscriptions.items():
            client = sub["clientHash"]
            messages = self.emulator.notifications(client)
            headers = self.proxy.headers.get(client, [])
            for n in range(self.seen[client], len(messages)):
                count += self._arrived(user, client, messages[n], headers[n] if n < len(headers) else {}, at_ms)
            self.seen[client] = len(messages)
        return count

    def _arrived(self, user: str, client: str, text: str, headers: dict, at_ms: int) -> int:
        named = split_user(user)
        if named is None:
            self.problems.append((None, f"a push for {user!r}, a user no case names"))
            return 0
        try:
            payload = json.loads(text)
            declarative = isinstance(payload, dict) and payload.get("web_push") == DECLARATIVE_WEB_PUSH
            if declarative:
                payload = classic_payload(payload)
        except (ValueError, KeyError, TypeError):
            self.problems.append((named[0], f"user {named[1]}: a payload that is not JSON arrived: {text[:200]!r}"))
            return 0
        message = str(payload.get("message"))
        if (client, message) in self._pushes:
            self.problems.append((named[0], f"user {named[1]}: message {message} arrived twice at one subscription "
                                            f"(the second time at {(at_ms - self.start) // 1000}s)"))
            return 0
        self._pushes.add((client, message))
        if (user, message) in self._messages:
            # Another subscription of the same user gets the same message: one notification.
            return 0
        self._messages.add((user, message))
        fields = {k: v for k, v in payload.items() if k not in HIDDEN}
        fields.update(headers)
        fields.update(user=named[1], at=(at_ms - self.start) // 1000, declarative=declarative)
        fields.setdefault("require_interaction", False)
        self.arrivals.append(Arrival(named[0], fields, at_ms))
        return 1

    def for_case(self, index: int, until_ms: int) -> list[dict]:
        return [a.fields for a in self.arrivals if a.case == index and a.at_ms <= until_ms]

    def problems_of(self, index: int) -> list[str]:
        return [text for case, text in self.problems if case in (index, None)]
