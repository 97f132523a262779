"""Patches to Faust (faust-streaming 0.15) internals the Kafka worker depends on; each
says what it mends. Recheck them on any Faust or aiokafka upgrade."""

from __future__ import annotations

import logging

import faust

from engine.agents.offsets import strict_new_offset

log = logging.getLogger(__name__)


def take_over_positions(runtime) -> None:
    """Faust seeks every partition to its committed offset after a rebalance (and when it
    fetches while paused); pushcast then seeks its own partitions to where it reads them
    from, and commits only what follows without a hole (offsets.py), and the changelog
    partitions being read to where their reading got."""
    consumer = runtime.app.consumer
    if getattr(consumer, "_pushcast_positions", False):
        return
    original = consumer.perform_seek

    async def perform_seek() -> None:
        await original()
        await runtime.position_partitions()
        await reseek_changelogs(runtime.app)

    consumer.perform_seek = perform_seek
    consumer._new_offset = strict_new_offset(consumer)
    consumer._pushcast_positions = True


def shorten_fetch_wait(app: faust.App, wait_ms: int) -> None:
    """Faust fixes aiokafka's fetch wait at 1.5 s. A fetch in flight that left out a
    partition Faust had paused is only followed by the next after that wait, so a record
    arriving then waits too: at a few hundred events/s, trigger-to-send went from ~60 ms
    to ~2.5 s in one run in two. A short wait bounds that delay."""
    fetcher = getattr(getattr(getattr(app.consumer, "_thread", None), "_consumer", None), "_fetcher", None)
    if fetcher is not None and hasattr(fetcher, "_fetch_max_wait_ms"):
        fetcher._fetch_max_wait_ms = wait_ms
    else:
        log.warning("could not shorten the Kafka fetch wait (Faust or aiokafka internals changed)")


async def reseek_changelogs(app: faust.App) -> None:
    """Faust drops a fetched batch whose flow was stopped meanwhile, then seeks the
    stream partitions back to their committed offsets but not the changelog partitions
    it is reading: their dropped records never came again and table recovery waited
    forever ("No event received for active tp"). Seek those back to the record after
    the last one read."""
    recovery = app.tables.recovery
    consumer = app.consumer
    assigned = consumer.assignment()
    reading = [recovery.standby_offsets]
    if app.in_recovery:
        reading.append(recovery.active_offsets)
    for offsets in reading:
        for tp, offset in list(offsets.items()):
            if tp in assigned:
                await consumer.seek(tp, max(offset, -1) + 1)
