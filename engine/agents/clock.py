"""Where a worker reads "now": the system clock, or a file a test controls.

`PUSHCAST_CLOCK_FILE=/path` makes every worker read epoch milliseconds (or an ISO 8601
datetime) from that file, so a test moves time by ten minutes by writing one line and no
test sleeps through a wait. Only the shell reads the clock: timers, the scheduler and the
sender's report times; the core is given times.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone
from pathlib import Path

CLOCK_ENV = "PUSHCAST_CLOCK_FILE"


class SystemClock:
    def now_ms(self) -> int:
        return int(time.time() * 1000)


class FileClock:
    """Reads the file on each call (a few µs); keeps the last good value if it is being
    rewritten at that moment."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self._last = 0

    def now_ms(self) -> int:
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


def parse_time_ms(text: str) -> int:
    if text.lstrip("-").isdigit():
        return int(text)
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return int(parsed.timestamp() * 1000)


def write_clock(path: Path | str, now_ms: int) -> None:
    """Set a FileClock atomically (tests and tools)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(f"{now_ms}\n")
    os.replace(tmp, path)


def clock_from_env() -> SystemClock | FileClock:
    path = os.environ.get(CLOCK_ENV)
    return FileClock(path) if path else SystemClock()
