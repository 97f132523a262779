"""A worker's settings: what `pushcast worker` flags set. Plain data, no wiring."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class WorkerSettings:
    bootstrap: str = "127.0.0.1:9092"
    app_id: str = "pushcast"
    events_topic: str = "pushcast-events"
    sends_topic: str = "pushcast-sends"
    dead_letter_topic: str = "pushcast-dead-letters"
    reach_replies_topic: str = "pushcast-reach-replies"
    partitions: int = 8  # of the events topic and the state table (fixed once created)
    sends_partitions: int = 8
    replication: int = 1
    # rocksdb (rocksdict): local state kept across restarts, caught up from the changelog;
    # memory: state rebuilt from the changelog at every start
    store: str = "rocksdb"
    data_dir: Path = Path(".pushcast/kafka/worker-1")  # the CLI takes the first free worker-N (slot.py)
    standby_replicas: int = 1
    campaigns: list[Path] = field(default_factory=lambda: [Path("campaigns.d")])
    config: Path | None = None
    redis: str | None = None  # None: the config's `redis`; empty: none (memory limits, no dedup)
    dry_run: bool = False  # accept every send without contacting a push service
    metrics_port: int | None = 9464  # the CLI's default: 9464 + N - 1 for worker-N of the machine (slot.py)
    metrics_host: str = "127.0.0.1"  # loopback: /metrics is for a local scraper unless asked otherwise
    api_port: int | None = None  # the worker API (reach, test sends; engine/agents/api.py); None: off
    api_host: str = "127.0.0.1"
    admin_token: str | None = None  # the worker API's bearer token (required with api_port)
    track_secret: bytes | None = None  # signs payloads for reports (track_secret.py); None: unsigned
    batch_size: int = 500
    run_step: int = 5000  # stored users a scheduled run reads per step (partition_runs.py)
    run_ahead: int = 4  # continuations of a scheduled run kept outstanding in its partition
    # processes counting reach off the worker's GIL (reach_pool.py), each reading the
    # partitions' RocksDB databases itself; 0: in the worker's thread
    reach_processes: int = field(default_factory=lambda: min(2, os.cpu_count() or 1))
    # each notification and delivery result a record of its own, the forms workers of
    # versions before batched records read: for a rolling upgrade from one (agent_records.py)
    single_records: bool = False
    batch_within: float = 0.005  # seconds a batch waits to fill
    commit_interval: float = 1.0
    session_timeout: float = 30.0  # Kafka's own failure detection (the broker's floor: 6 s)
    heartbeat_interval: float = 0.5  # how soon a worker hears of a rebalance (peers.py: a removal)
    peer_timeout: float = 2.0  # a peer silent this long is removed from the group (peers.py); 0: off
    fetch_wait_ms: int = 50  # longest a Kafka fetch waits for data (Faust's own: 1500)
    # Seconds a produce request waits for more records. 0: aiokafka sends at once and
    # batches what comes while a request to the broker is out (one at a time per broker),
    # so a linger only delays the notifications and results of a lightly loaded worker.
    producer_linger: float = 0.0
    timer_tick: float = 0.01  # seconds between checks of the wake index
    refire_ms: int = 30_000
    reload_interval: float = 5.0
    dedup_lease_ms: int = 15_000
    loglevel: str = "warning"

    @property
    def peers_topic(self) -> str:
        """Where the workers beat (peers.py): one compacted partition per app."""
        return f"{self.app_id}-peers"
