"""The embedded runtime's cache of committed user states, bounded in bytes and users.

A count alone does not bound memory: states differ by orders of magnitude (one user with
a long history, another with nothing), so 200,000 entries could be megabytes or
gigabytes. The cache holds each state's stored bytes (cheap for the garbage collector)
and evicts the least recently used until both bounds hold.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from itertools import islice

DEFAULT_MAX_USERS = 200_000
DEFAULT_MAX_BYTES = 256 * 1024 * 1024
# The users last removed, kept so that a read a few batches old can still be checked
# against them (`removed_since`); a scheduled run's chunks are at most a few batches old.
REMOVED_KEPT = 50_000


class StateCache(OrderedDict):
    """user -> stored state bytes, most recently used last; `nbytes` is their total.
    `removals` counts the entries ever dropped, and `removed_since` names the users
    dropped since a count was taken: a state written since a reader's look at the store
    is still here unless its user is among them (what a scheduled run's read relies on)."""

    def __init__(self, max_users: int = DEFAULT_MAX_USERS, max_bytes: int = DEFAULT_MAX_BYTES,
                 removed_kept: int = REMOVED_KEPT):
        super().__init__()
        self.max_users = max_users
        self.max_bytes = max_bytes
        self.nbytes = 0
        self.removals = 0
        self._removed: deque[str] = deque(maxlen=removed_kept)  # the last removed, oldest first

    def __setitem__(self, user: str, blob: bytes) -> None:
        old = super().get(user)
        if old is not None:
            self.nbytes -= len(old)
        super().__setitem__(user, blob)
        self.nbytes += len(blob)

    def __delitem__(self, user: str) -> None:
        self.nbytes -= len(super().__getitem__(user))
        super().__delitem__(user)
        self._dropped(user)

    def pop(self, user, *default):
        if user in self:
            blob = super().pop(user)
            self.nbytes -= len(blob)
            self._dropped(user)
            return blob
        return super().pop(user, *default)

    def popitem(self, last: bool = True) -> tuple[str, bytes]:
        user, blob = super().popitem(last)
        self.nbytes -= len(blob)
        self._dropped(user)
        return user, blob

    def put_many(self, rows) -> None:
        """Store (user, blob, ...) rows as the most recently used, in one loop (the
        writer's rows after each commit: per user, one pop and one insert)."""
        pop, put = super().pop, super().__setitem__
        total = self.nbytes
        for row in rows:
            user, blob = row[0], row[1]
            old = pop(user, None)  # re-inserted last: most recently used
            if old is not None:
                total -= len(old)
            put(user, blob)
            total += len(blob)
        self.nbytes = total

    def update(self, other=(), **kwargs) -> None:
        items = other.items() if hasattr(other, "items") else other
        for user, blob in items:
            self[user] = blob
        for user, blob in kwargs.items():
            self[user] = blob

    def clear(self) -> None:
        for user in self:
            self._dropped(user)
        super().clear()
        self.nbytes = 0

    def _dropped(self, user: str) -> None:
        self.removals += 1
        self._removed.append(user)

    def removed_since(self, removals: int) -> set[str] | None:
        """The users removed since `removals` was the count; None when they are no longer
        all known (more than `REMOVED_KEPT` since)."""
        since = self.removals - removals
        if since > len(self._removed):
            return None
        return set(islice(self._removed, len(self._removed) - since, None)) if since else set()

    def trim(self) -> None:
        """Evict the least recently used until both bounds hold."""
        while self and (len(self) > self.max_users or self.nbytes > self.max_bytes):
            self.popitem(last=False)
