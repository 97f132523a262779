"""The embedded runtime's cache of committed user states, bounded in bytes and users.

A count alone does not bound memory: states differ by orders of magnitude (one user with
a long history, another with nothing), so 200,000 entries could be megabytes or
gigabytes. The cache holds each state's stored bytes (cheap for the garbage collector)
and evicts the least recently used until both bounds hold.
"""

from __future__ import annotations

from collections import OrderedDict

DEFAULT_MAX_USERS = 200_000
DEFAULT_MAX_BYTES = 256 * 1024 * 1024


class StateCache(OrderedDict):
    """user -> stored state bytes, most recently used last; `nbytes` is their total.
    `removals` counts the entries ever dropped: while it is unchanged, every state written
    since a reader's look at the store is still here (what a scheduled run's read relies on)."""

    def __init__(self, max_users: int = DEFAULT_MAX_USERS, max_bytes: int = DEFAULT_MAX_BYTES):
        super().__init__()
        self.max_users = max_users
        self.max_bytes = max_bytes
        self.nbytes = 0
        self.removals = 0

    def __setitem__(self, user: str, blob: bytes) -> None:
        old = super().get(user)
        if old is not None:
            self.nbytes -= len(old)
        super().__setitem__(user, blob)
        self.nbytes += len(blob)

    def __delitem__(self, user: str) -> None:
        self.nbytes -= len(super().__getitem__(user))
        super().__delitem__(user)
        self.removals += 1

    def pop(self, user, *default):
        if user in self:
            blob = super().pop(user)
            self.nbytes -= len(blob)
            self.removals += 1
            return blob
        return super().pop(user, *default)

    def popitem(self, last: bool = True) -> tuple[str, bytes]:
        user, blob = super().popitem(last)
        self.nbytes -= len(blob)
        self.removals += 1
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
        if self:
            self.removals += 1
        super().clear()
        self.nbytes = 0

    def trim(self) -> None:
        """Evict the least recently used until both bounds hold."""
        while self and (len(self) > self.max_users or self.nbytes > self.max_bytes):
            self.popitem(last=False)
