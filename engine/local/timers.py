"""Per-user timers: a heap of (due, user) holding each user's earliest pending wait.

A user has at most one live timer (the core's `Wake` replaces the previous one): the heap
may hold stale entries, skipped when popped because `due_of[user]` no longer matches.
Rebuilt at start from `users.next_due`, so no wait is lost across a restart.
"""

from __future__ import annotations

import heapq
from typing import Iterable


class Timers:
    def __init__(self) -> None:
        self._heap: list[tuple[int, str]] = []
        self.due_of: dict[str, int] = {}

    def load(self, rows: Iterable[tuple[int, str]]) -> None:
        for due, user in rows:
            self.due_of[user] = due
        self._heap = [(due, user) for user, due in self.due_of.items()]
        heapq.heapify(self._heap)

    def set(self, user: str, due: int | None) -> bool:
        """Set (or clear, with None) the user's timer; True when it is earlier than any other."""
        if due is None:
            self.due_of.pop(user, None)
            return False
        if self.due_of.get(user) == due:
            return False
        self.due_of[user] = due
        heapq.heappush(self._heap, (due, user))
        return self._heap[0] == (due, user)

    def next_due(self) -> int | None:
        heap = self._heap
        while heap and self.due_of.get(heap[0][1]) != heap[0][0]:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def pop_due(self, now: int) -> list[tuple[str, int]]:
        """Take every timer due at or before `now`: [(user, due)], earliest first."""
        out = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            due, user = heapq.heappop(heap)
            if self.due_of.get(user) == due:
                del self.due_of[user]
                out.append((user, due))
        return out

    def __len__(self) -> int:
        return len(self.due_of)
