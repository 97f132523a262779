"""ISO 8601 datetimes and epoch milliseconds, the one conversion every layer uses."""

from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache


def parse_iso(text: str) -> int:
    """ISO 8601 to epoch ms (UTC when no offset; `Z` accepted); ValueError when not one."""
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return int(parsed.timestamp() * 1000)


def iso(ms: int) -> str:
    """Epoch ms as ISO 8601 UTC with milliseconds and a `Z`."""
    return datetime.fromtimestamp(ms / 1000, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def minute_utc(ms: int) -> str:
    """Epoch ms as `2026-12-01 09:14 UTC`: how decisions name a time to a reader. Never
    raises (a decision about a user must not fail over a time past year 9999)."""
    day, since_midnight = divmod(ms, 86_400_000)
    text = _day_text(day)
    if text is None:
        return f"{ms} ms after 1970"
    minutes = since_midnight // 60_000
    return f"{text} {minutes // 60:02d}:{minutes % 60:02d} UTC"


@lru_cache(maxsize=1024)  # the core names times on every wait: strftime once a day
def _day_text(day: int) -> str | None:
    try:
        return datetime.fromtimestamp(day * 86_400, timezone.utc).strftime("%Y-%m-%d")
    except (OverflowError, OSError, ValueError):
        return None
