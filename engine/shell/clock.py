"""Where every runtime gets `now` (epoch ms). The core never reads a clock; the shell
does, here only, and hands the time in.

- `SystemClock`: the real time.
- `ManualClock`: stands still until told to move (`pushcast run --test-clock`), so a test
  skips ten minutes without sleeping them; listeners hear every move.
- `FileClock`: reads the time from a file (`PUSHCAST_CLOCK_FILE`), so a test moves every
  Kafka worker at once by writing one line.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable

from engine.core.isotime import iso, parse_iso

CLOCK_ENV = "PUSHCAST_CLOCK_FILE"


def now_ms() -> int:
    return int(time.time() * 1000)


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


class FileClock:
    """Reads the file on each call (a few µs); keeps the last good value if it is being
    rewritten at that moment. Workers poll it, so it has no listeners."""

    settable = False

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self._last = 0

    def now(self) -> int:
        try:
            text = self.path.read_text().strip()
        except OSError:
            return self._last
        if text:
            try:
                self._last = parse_time_ms(text)
            except ValueError:
                pass
        return self._last

    def seconds_until(self, at_ms: int) -> float:
        return max(0.0, (at_ms - self.now()) / 1000)

    def on_change(self, listener: Callable[[int], None]) -> None:
        pass


def parse_time_ms(text: str) -> int:
    """Epoch milliseconds or an ISO 8601 datetime."""
    if text.lstrip("-").isdigit():
        return int(text)
    return parse_iso(text)


def write_clock(path: Path | str, at_ms: int) -> None:
    """Set a FileClock atomically (tests and tools)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(f"{at_ms}\n")
    os.replace(tmp, path)


def clock_from_env() -> SystemClock | FileClock:
    path = os.environ.get(CLOCK_ENV)
    return FileClock(path) if path else SystemClock()
