"""The agents' buffers at the end of a rebalance: records fetched then are kept.

Resuming Faust's flow control empties every buffer it manages (mode's `clear_on_resume`),
meaning to drop records of the assignment before a rebalance. But Faust resumes it last:
at the end of a rebalance it resumes the stream partitions, seeks (`perform_seek`, where
pushcast seeks its own positions), and only then resumes flow control; when no table had
to be recovered its flow is running already. A record fetched in between was dropped with
Kafka's position and Faust's read offset past it, never acknowledged, and nothing read it
again until a later record of its partition showed the hole (offsets.py). The last record
of a partition stayed unread until the next rebalance (CI: "workers still have 1 records
to do after 60s"; the worker log showed the record fetched and then dropped at resume).

So resuming keeps the buffered records of the worker's own topics that were fetched in
the current consumer generation, in order; the offset guard decides about each as about
any other record. Older records, and the changelog records Faust's table recovery
buffers, are dropped as before. It reaches into mode's flow control and its queues as
declared in `INTERNALS` (checked with faust_private's).
"""

from __future__ import annotations

from typing import Iterable

from engine.agents.internals import ATTRIBUTE, METHOD, Internal

_FLOW = "mode.utils.queues:FlowControlEvent"
_RECOVERY = "faust.tables.recovery:Recovery"

INTERNALS: tuple[Internal, ...] = (
    Internal(_FLOW, "resume", METHOD, params=("self",),
             read_by=(f"{_RECOVERY}.on_recovery_completed", f"{_RECOVERY}._resume_streams"),
             why="wrapped: resuming empties every agent's buffer, records fetched after Faust's seek too"),
    Internal(_FLOW, "clear", METHOD, params=("self",), read_by=(f"{_FLOW}.resume",),
             why="what resuming calls to empty the buffers (the reason for the wrapper)"),
    Internal(_FLOW, "_queues", ATTRIBUTE, set_by=(f"{_FLOW}.__init__",), read_by=(f"{_FLOW}.clear",),
             why="the buffers resuming empties: the current records of the worker's topics go back"),
    Internal("asyncio.queues:Queue", "_queue", ATTRIBUTE, set_by=("asyncio.queues:Queue._init",),
             read_by=("mode.utils.queues:ThrowableQueue.clear",),
             why="a buffer's records, read in place (get_nowait would raise an error thrown into it)"),
)


def keep_current_records_at_resume(app, topics: Iterable[str]) -> None:
    """Make resuming `app`'s flow control keep the buffered records of `topics` fetched in
    the current consumer generation (see the module's doc)."""
    flow_control = app.flow_control
    resume = flow_control.resume
    kept_topics = frozenset(topics)

    def keep_current_then_resume() -> None:
        generation = app.consumer_generation_id
        kept = [(queue, [item for item in queue._queue if _current(item, kept_topics, generation)])
                for queue in list(flow_control._queues)]
        resume()  # empties them
        for queue, items in kept:
            for item in items:
                queue.put_nowait(item)

    flow_control.resume = keep_current_then_resume


def _current(item, topics: frozenset, generation: int) -> bool:
    message = getattr(item, "message", None)  # an event of a Kafka record
    return message is not None and message.topic in topics and message.generation_id == generation
