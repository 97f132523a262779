"""Per-user timers: each user's earliest pending wait, in one heap.

A user has at most one live timer (the core's `Wake` replaces the previous one): the heap
may hold stale entries, skipped when reached because the user's due time no longer
matches. Runtimes rebuild it from the stored states' next due times, so no wait is lost
across a restart.

With `refire_ms`, a timer taken by `pop_due` stays armed and fires again that much later
unless its user's due time moves first: where a wake-up travels as a record that may be
lost (Kafka), a lost one costs a delay, never a notification.
"""

from __future__ import annotations

import heapq
from typing import Iterable


class Timers:
    def __init__(self, refire_ms: int | None = None) -> None:
        self.refire_ms = refire_ms
        self.due_of: dict[str, int] = {}
        self._heap: list[tuple[int, int, str]] = []  # (fire at, due, user)

    def __len__(self) -> int:
        return len(self.due_of)

    def load(self, rows: Iterable[tuple[int, str]]) -> None:
        """Add (due, user) rows in bulk (at start or when partitions are assigned)."""
        for due, user in rows:
            self.due_of[user] = due
        self._heap = [(due, due, user) for user, due in self.due_of.items()]
        heapq.heapify(self._heap)

    def set(self, user: str, due: int | None) -> bool:
        """Set (or clear, with None) the user's timer; True when it is now the earliest."""
        if due is None:
            self.due_of.pop(user, None)
            return False
        if self.due_of.get(user) == due:
            return False
        self.due_of[user] = due
        heapq.heappush(self._heap, (due, due, user))
        return self._heap[0][2] == user and self._heap[0][1] == due

    def get(self, user: str) -> int | None:
        return self.due_of.get(user)

    def discard(self, users: Iterable[str]) -> None:
        for user in users:
            self.due_of.pop(user, None)

    def next_due(self) -> int | None:
        """When the earliest timer fires (None: no timer)."""
        self._drop_stale()
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: int) -> list[tuple[str, int]]:
        """Take every timer firing at or before `now`: [(user, due)], earliest first."""
        fired = []
        heap = self._heap
        while True:
            self._drop_stale()
            if not heap or heap[0][0] > now:
                return fired
            _fire_at, due, user = heapq.heappop(heap)
            fired.append((user, due))
            if self.refire_ms is None:
                del self.due_of[user]
            else:
                heapq.heappush(heap, (now + self.refire_ms, due, user))

    def _drop_stale(self) -> None:
        heap = self._heap
        due_of = self.due_of
        while heap and due_of.get(heap[0][2]) != heap[0][1]:
            heapq.heappop(heap)
