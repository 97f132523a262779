"""`Slots`: the Sender's bound on exchanges in flight, a counting semaphore whose free
path is a plain call.

`asyncio.Semaphore.acquire` is a coroutine, and its `locked()` scans the waiters with a
generator, on every push; here a free slot is taken by `take()` and only a full set of
slots makes the caller `await wait()`. Slots are handed to waiters in arrival order.
"""

from __future__ import annotations

import asyncio
import collections


class Slots:
    __slots__ = ("free", "_waiters")

    def __init__(self, count: int) -> None:
        if count < 1:
            raise ValueError("Slots: count must be >= 1")
        self.free = count
        self._waiters: collections.deque[asyncio.Future] = collections.deque()

    def take(self) -> bool:
        """Take a free slot: True, or False when all are taken (then `await wait()`).
        No one waits while a slot is free: `release` hands a slot to a waiter rather than
        freeing it, so a newcomer cannot take it first."""
        if self.free > 0:
            self.free -= 1
            return True
        return False

    async def wait(self) -> None:
        """Wait until a released slot is handed to this caller (it then holds it)."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed a slot just as it was cancelled: pass it on
            raise

    def release(self) -> None:
        """Give back a slot: to the first waiter still waiting, else to the free count."""
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():  # a cancelled waiter is skipped
                waiter.set_result(None)
                return
        self.free += 1
