"""The per-worker index of due waits, for the partitions this worker owns.

The truth is in the state table (each stored state carries its next due time); this is
the worker's copy, set by the user agent after each record, dropped for revoked
partitions and rebuilt from the table when partitions are assigned. The timers refire
(see `engine.shell.timers`): a lost wake-up record costs a delay, never a notification.
"""

from __future__ import annotations

from engine.shell.timers import Timers


class WakeIndex:
    def __init__(self, refire_ms: int = 30_000):
        self.timers = Timers(refire_ms)
        self._partition: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.timers)

    def set(self, user: str, due: int | None, partition: int) -> None:
        """The user's next due time (None: no pending wait)."""
        if due is None:
            self._partition.pop(user, None)
        else:
            self._partition[user] = partition
        self.timers.set(user, due)

    def get(self, user: str) -> int | None:
        return self.timers.get(user)

    def next_fire(self) -> int | None:
        return self.timers.next_due()

    def pop_due(self, now: int) -> list[tuple[str, int, int]]:
        """(user, due, partition) of every wait to fire now; each is re-armed for a refire."""
        return [(user, due, self._partition[user]) for user, due in self.timers.pop_due(now)]

    def drop_partitions(self, partitions: set[int]) -> None:
        gone = [u for u, p in self._partition.items() if p in partitions]
        for user in gone:
            del self._partition[user]
        self.timers.discard(gone)
