"""The worker's Faust app: its transport, consumer and store settings, no agents yet.
engine/agents/app.py adds the agents; bench/bench_faust_floor.py adds one that does
nothing (the Faust floor)."""

from __future__ import annotations

import logging

import faust

from engine.agents import faust_private
from engine.agents.settings import WorkerSettings


def build_app(settings: WorkerSettings) -> faust.App:
    """The Faust app with the worker's transport and consumer settings, no agents yet (the
    Faust floor of bench/bench_faust_floor.py is this app with an agent that does nothing)."""
    store = "memory://" if settings.store == "memory" else "rocksdb://"
    app = faust.App(
        settings.app_id,
        broker=f"kafka://{settings.bootstrap}",
        store=store,
        datadir=str(settings.data_dir),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication,
        table_standby_replicas=settings.standby_replicas,
        broker_commit_interval=settings.commit_interval,
        broker_session_timeout=settings.session_timeout,
        broker_heartbeat_interval=settings.heartbeat_interval,
        consumer_auto_offset_reset="earliest",
        broker_max_poll_records=settings.batch_size * 4,
        stream_buffer_maxsize=settings.batch_size * 8,
        producer_linger=settings.producer_linger,
        web_enabled=False,
        autodiscover=False,
        # Every record is bytes this module encodes itself (the table's changelog too).
        key_serializer="raw",
        value_serializer="raw",
    )

    @app.on_partitions_assigned.connect
    async def _assigned(sender, assigned, **kwargs) -> None:
        faust_private.shorten_fetch_wait(app, settings.fetch_wait_ms)

    return app


def quiet_root_logger(settings: WorkerSettings) -> None:
    """mode leaves the root logger at DEBUG (its handler filters): every debug call in
    aiokafka and faust would still build a LogRecord, ~10% of a busy worker's time."""
    logging.getLogger().setLevel(settings.loglevel.upper())
