"""Where the embedded runtime gets `now`: the wall clock, or a clock the tests move.

The core never reads a clock; the shell does, here only. A `ManualClock` stands still
until told to move (`pushcast run --test-clock`), so an integration test can skip ten
minutes without sleeping them. Listeners hear every move so timers re-plan at once.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Callable


def now_ms() -> int:
    return int(time.time() * 1000)


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text: str) -> int:
    """ISO 8601 to epoch ms (UTC when no offset); ValueError when not a datetime."""
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return int(parsed.timestamp() * 1000)


class SystemClock:
    """The real time. `settable` is False: the admin clock endpoint is off."""

    settable = False

    def now(self) -> int:
        return now_ms()

    def seconds_until(self, at_ms: int) -> float:
        """Real seconds to sleep until the clock reads `at_ms`."""
        return max(0.0, (at_ms - now_ms()) / 1000)

    def on_change(self, listener: Callable[[int], None]) -> None:
        pass


class ManualClock:
    """A clock that only moves when set or advanced (never backwards)."""

    settable = True

    def __init__(self, start_ms: int):
        self._now = start_ms
        self._listeners: list[Callable[[int], None]] = []

    def now(self) -> int:
        return self._now

    def seconds_until(self, at_ms: int) -> float:
        # Time does not pass by itself: a future deadline is reached only by a move.
        return 0.0 if at_ms <= self._now else float("inf")

    def on_change(self, listener: Callable[[int], None]) -> None:
        self._listeners.append(listener)

    def set(self, at_ms: int) -> int:
        if at_ms < self._now:
            raise ValueError(f"the test clock does not go back: it reads {iso(self._now)}, asked for {iso(at_ms)}")
        self._now = at_ms
        for listener in self._listeners:
            listener(at_ms)
        return at_ms

    def advance(self, seconds: float) -> int:
        if seconds < 0:
            raise ValueError(f"advance: expected seconds >= 0, got {seconds}")
        return self.set(self._now + int(round(seconds * 1000)))
