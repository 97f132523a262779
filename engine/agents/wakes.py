"""The per-worker index of due waits, for the partitions this worker owns.

The truth is in the state table (each stored state carries its next due time); this is
the worker's copy, set by the user agent after each record, dropped for revoked
partitions and rebuilt from the table when partitions are assigned. A fired wake stays
in the index, to be fired again after `refire_ms` unless the user agent has moved the
user's timer by then: a lost wake-up record costs a delay, never a notification.
"""

from __future__ import annotations

import heapq


class WakeIndex:
    def __init__(self, refire_ms: int = 30_000):
        self.refire_ms = refire_ms
        self._due: dict[str, tuple[int, int]] = {}  # user -> (due, partition)
        self._heap: list[tuple[int, int, str]] = []  # (fire at, due, user)

    def __len__(self) -> int:
        return len(self._due)

    def set(self, user: str, due: int | None, partition: int) -> None:
        """The user's next due time (None: no pending wait)."""
        if due is None:
            self._due.pop(user, None)
            return
        if self._due.get(user) == (due, partition):
            return
        self._due[user] = (due, partition)
        heapq.heappush(self._heap, (due, due, user))

    def get(self, user: str) -> int | None:
        entry = self._due.get(user)
        return None if entry is None else entry[0]

    def next_fire(self) -> int | None:
        self._drop_stale()
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: int) -> list[tuple[str, int, int]]:
        """(user, due, partition) of every wait to fire now; each is re-armed for a refire."""
        fired = []
        while True:
            self._drop_stale()
            if not self._heap or self._heap[0][0] > now:
                break
            _fire_at, due, user = heapq.heappop(self._heap)
            partition = self._due[user][1]
            fired.append((user, due, partition))
            heapq.heappush(self._heap, (now + self.refire_ms, due, user))
        return fired

    def drop_partitions(self, partitions: set[int]) -> None:
        for user in [u for u, (_, p) in self._due.items() if p in partitions]:
            del self._due[user]

    def _drop_stale(self) -> None:
        heap = self._heap
        while heap:
            _fire_at, due, user = heap[0]
            entry = self._due.get(user)
            if entry is not None and entry[0] == due:
                return
            heapq.heappop(heap)
