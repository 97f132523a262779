"""The peer watch: a killed worker's partitions go to the others within seconds.

Kafka notices a dead group member only when its session times out, and the broker will
not take a session timeout under `group.min.session.timeout.ms` (6 s by default): a
`kill -9`ed worker's partitions waited ~32 s with the old 30 s default. So the workers
watch each other. Each worker beats on `{app_id}-peers` (one compacted partition) every
`beat` seconds, from a thread of its own (as Kafka's heartbeats come from the consumer's
thread: a busy event loop does not silence it), naming its current group member id. Each
worker reads every beat; a peer not heard from for `silent_after` seconds is removed
from the group with LeaveGroup v3 (kafka_admin.remove_group_members), and the broker
rebalances at once. Any worker may remove it (a second removal is answered "unknown
member"); a worker removes nobody while its own beats are not coming back to it (then it
is the one cut off or starved).

A worker removed while alive (its whole process frozen for `silent_after`) finds out at
its next heartbeat and joins again: a rebalance, as a session timeout would have been.
Processing stays exactly-once either way (app.py: applied offsets in the table).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable

from engine.agents import kafka_admin

log = logging.getLogger(__name__)

UNKNOWN_MEMBER_ID = 25  # Kafka's error code: removed already, or never there


@dataclass
class PeerWatch:
    bootstrap: str
    group: str
    topic: str
    member_id: Callable[[], str | None]  # this worker's member id now (None: not joined)
    beat: float = 0.4
    silent_after: float = 2.0
    key: bytes = field(default_factory=lambda: uuid.uuid4().hex.encode())  # this process
    removed: list[str] = field(default_factory=list)  # member ids this worker removed
    _heard: dict = field(default_factory=dict, repr=False)  # key -> (monotonic time heard, member id)
    _loop: asyncio.AbstractEventLoop | None = field(default=None, repr=False)
    _stop: asyncio.Event | None = field(default=None, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def start(self) -> None:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="pushcast-peers", daemon=True)
        self._thread.start()
        ready.wait(10)

    def stop(self) -> None:
        """Say goodbye (a tombstone: no peer waits for this worker's silence) and end."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(5)

    def _run(self, ready: threading.Event) -> None:
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        ready.set()
        try:
            self._loop.run_until_complete(self._main())
        except Exception:  # the worker runs on without it (Kafka's session timeout remains)
            log.exception("peer watch stopped")
        finally:
            self._loop.close()

    async def _main(self) -> None:
        from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
        from aiokafka.admin import AIOKafkaAdminClient

        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks=1, linger_ms=0)
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False,
                                    auto_offset_reset="earliest", fetch_max_wait_ms=100)
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await producer.start()
        await consumer.start()
        await admin.start()
        try:
            consumer.assign([TopicPartition(self.topic, 0)])
            beating = asyncio.ensure_future(self._beat(producer))
            try:
                while not self._stop.is_set():
                    batch = await consumer.getmany(timeout_ms=100)
                    heard = [(r.key, r.value) for records in batch.values() for r in records]
                    for peer in self.silent(heard, time.monotonic()):
                        await self._remove(admin, producer, peer)
            finally:
                beating.cancel()
            await producer.send_and_wait(self.topic, key=self.key, value=None)
        finally:
            await admin.close()
            await consumer.stop()
            await producer.stop()

    async def _beat(self, producer) -> None:
        while True:
            member = self.member_id()
            if member:
                await producer.send(self.topic, key=self.key, value=member.encode())
            await asyncio.sleep(self.beat)

    # --- what is decided (no I/O: tests/unit/agents/test_peers.py) -------------------

    def silent(self, heard: list[tuple[bytes, bytes | None]], now: float) -> list[tuple[bytes, str]]:
        """Record the beats `heard` at `now`; the (key, member id) of the peers silent for
        longer than `silent_after`, none while this worker's own beats are not heard."""
        for key, value in heard:
            if value is None:
                self._heard.pop(key, None)  # a peer that said goodbye
            else:
                self._heard[key] = (now, value.decode())
        mine = self._heard.get(self.key)
        if mine is None or now - mine[0] > self.silent_after / 2:
            return []
        return [(key, member) for key, (at, member) in self._heard.items()
                if key != self.key and now - at > self.silent_after and member != mine[1]]

    async def _remove(self, admin, producer, peer: tuple[bytes, str]) -> None:
        key, member = peer
        self._heard.pop(key, None)
        errors = await kafka_admin.remove_group_members(admin, self.group, [member])
        if errors.get(member) == 0:
            self.removed.append(member)
            log.warning("group %s: member %s silent for %.1fs, removed (its partitions go to the others)",
                        self.group, member, self.silent_after)
        elif errors.get(member) != UNKNOWN_MEMBER_ID:
            log.warning("group %s: removing silent member %s failed: Kafka error %s", self.group, member,
                        errors.get(member))
        await producer.send_and_wait(self.topic, key=key, value=None)  # nobody tries again


def watch_peers(app, settings) -> PeerWatch:
    """On a worker's Faust app: remove a peer silent for `settings.peer_timeout` s from the
    group; its partitions are served again within seconds of a kill -9, not after the
    session timeout."""
    watch = PeerWatch(settings.bootstrap, settings.app_id, settings.peers_topic,
                      lambda: kafka_admin.group_member_id(app), silent_after=settings.peer_timeout)

    @app.task
    async def start_watch() -> None:
        await asyncio.to_thread(watch.start)

    @app.on_before_shutdown.connect
    async def stop_watch(sender, **kwargs) -> None:
        await asyncio.to_thread(watch.stop)

    return watch
