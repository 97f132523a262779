"""The agents' batches: Faust's `Stream.take_events` without its idle polling.

Faust's `take_events(max_, within)` wakes every `within` seconds whether records came or
not: with the worker's 5 ms window that is 400 wake-ups a second for the two agents of an
idle worker, most of its idle CPU (bench/RESULTS.md, "Latency under load"), and each
wake-up waits its turn for a CPU on a busy machine. `take_batches` waits for the first
record with no timeout, then up to `within` for the batch to fill: the same batches under
load, none of the wake-ups when there is nothing to take. Acknowledgements are Faust's:
every record of a batch is acknowledged once the agent is done with the batch.

It reaches into Faust's stream as `take_events` itself does (declared in `INTERNALS`,
checked with faust_private's; written for faust-streaming 0.15.3).
"""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator, MutableSequence

from faust.types.streams import Processor
from mode.utils.aiter import aiter
from mode.utils.futures import notify

from engine.agents.internals import ATTRIBUTE, METHOD, Internal

_STREAM = "faust.streams:Stream"

INTERNALS: tuple[Internal, ...] = (
    Internal(_STREAM, "_processors", ATTRIBUTE, annotation=MutableSequence[Processor],
             read_by=(f"{_STREAM}.take_events", f"{_STREAM}.add_processor"),
             why="take_batches removes its buffering processor when done, as take_events does"),
    Internal(_STREAM, "_enable_passive", METHOD, params=("self", "channel", "declare"),
             read_by=(f"{_STREAM}.take_events",),
             why="take_batches drains the stream in the background into its buffer, as take_events does"),
    Internal(_STREAM, "_active_agens", ATTRIBUTE, set_by=(f"{_STREAM}.__init__",), read_by=(f"{_STREAM}.on_stop",),
             why="take_batches registers itself so that Faust closes it when the stream stops"),
)


def take_batches(stream, max_: int, within: float) -> AsyncIterator[list]:
    """Batches of up to `max_` events of `stream`: from its first record, a batch waits
    up to `within` seconds to fill."""
    batches = _take_batches(stream, max_, within)
    stream._active_agens.add(batches)  # closed with the stream, as Faust's take_events
    return batches


async def _take_batches(stream, max_: int, within: float) -> AsyncIterator[list]:
    events: list = []
    started = asyncio.Event()  # a batch has its first record
    full = asyncio.Event()
    consumed = asyncio.Event()
    consuming: asyncio.Future | None = None  # set while the agent has a batch
    enable_acks = stream.enable_acks

    async def add_to_buffer(value: Any) -> Any:
        nonlocal consuming
        try:
            if consuming is not None:
                try:
                    await consuming
                finally:
                    consuming = None
            event = stream.current_event
            if event is None:
                raise RuntimeError("take_batches found no current event")
            events.append(event)
            started.set()
            if len(events) >= max_:
                full.set()
                consumed.clear()
                await stream.wait(consumed)  # never more than max_ in a batch
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            stream.log.exception("Error adding to take buffer: %r", exc)
            await stream.crash(exc)
        return value

    stream.enable_acks = False  # acknowledged here, once the agent is done with them
    stream.add_processor(add_to_buffer)
    stream._enable_passive(aiter(stream.channel))
    try:
        while not stream.should_stop:
            if await stream.wait_for_stopped(started):  # no timeout: idle is idle
                break
            if len(events) < max_:
                await stream.wait_for_stopped(full, timeout=within)
            if not events:
                continue
            consuming = stream.loop.create_future()
            try:
                yield list(events)
            finally:
                for event in events:
                    await stream.ack(event)
                events.clear()
                started.clear()
                full.clear()
                notify(consuming)  # the record waiting in add_to_buffer goes in the next batch
                consumed.set()
    finally:
        stream.enable_acks = enable_acks
        stream._processors.remove(add_to_buffer)
