"""`pushcast worker` processes on a file clock (`PUSHCAST_CLOCK_FILE`), driven through
Kafka only (engine.testing never imports a runtime): events produced into the events
topic keyed by user, idle when the workers' group has committed every record of the
events and sends topics and nothing new came for a moment (a worker notices a clock move
within its 10 ms timer tick and produces the wake-ups and run records it causes).

Each runtime gets a unique topic prefix and app id, lets the first worker create the
topics (as a deployment does), and deletes every topic with its prefix when it stops.
aiokafka is imported only here and only when this runtime is used.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import orjson

from engine.shell.clock import CLOCK_ENV, write_clock
from engine.testing.config import RuntimeFiles
from engine.testing.emulator import free_port
from engine.testing.failure import RuntimeFailure

PARTITIONS, SENDS_PARTITIONS = 4, 2  # few: a test file has a few dozen users
SETTLE_S = 0.3  # quiet time after the lag reaches 0: well over the timer tick and commit interval


@dataclass(frozen=True)
class KafkaOptions:
    bootstrap: str
    redis: str = "none"
    workers: int = 1
    topic_prefix: str | None = None


class _Kafka:
    """One admin client, consumer and producer on a private loop in a thread, made once
    per runtime: the runner polls the lag many times a step, and a new client per poll
    costs more than the poll."""

    def __init__(self, bootstrap: str):
        self.bootstrap = bootstrap
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="pushcast-test-kafka", daemon=True)
        self.thread.start()
        self.admin = self.consumer = self.producer = None

    def run(self, coro, timeout: float = 60):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _ensure(self) -> None:
        if self.admin is not None:
            return
        from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
        from aiokafka.admin import AIOKafkaAdminClient

        self.admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        self.consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False)
        self.producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all", enable_idempotence=True)
        await self.admin.start()
        await self.consumer.start()
        await self.producer.start()

    def close(self) -> None:
        async def close():
            for client in (self.producer, self.consumer):
                if client is not None:
                    await client.stop()
            if self.admin is not None:
                await self.admin.close()

        try:
            self.run(close(), 30)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)


def _metric(port: int, name: str) -> float:
    """The sum of a worker's samples of `name`, every label (0 when it does not answer)."""
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return 0.0
    total = 0.0
    for line in text.splitlines():
        sample = line.split("{", 1)[0].split(" ", 1)[0]
        if sample == name:
            total += float(line.rsplit(" ", 1)[1])
    return total


class KafkaRuntime:
    def __init__(self, files: RuntimeFiles, directory: Path, start_ms: int, options: KafkaOptions,
                 timeout: float = 90.0):
        self.files = files
        self.directory = directory
        self.options = options
        self.timeout = timeout
        self.prefix = options.topic_prefix or f"pushcast-test-{uuid.uuid4().hex[:10]}-"
        if options.topic_prefix:
            self.prefix = f"{options.topic_prefix}{directory.name}-"  # one set of topics per file
        self.clock_file = directory / "clock"
        write_clock(self.clock_file, start_ms)
        self.now = start_ms
        self.workers: dict[str, subprocess.Popen] = {}
        self.exited: dict[str, int] = {}  # workers this runner killed on purpose
        self.kafka = _Kafka(options.bootstrap)
        self.metrics_ports: dict[str, int] = {}
        self.runs = 0  # scheduled runs due by the clock, as the runner last said
        self.runs_before: dict[str, int] = {}  # worker -> runs made before it started

    @property
    def app_id(self) -> str:
        return self.prefix + "app"

    @property
    def topics(self) -> list[tuple[str, int]]:
        return [(self.prefix + "events", PARTITIONS), (self.prefix + "sends", SENDS_PARTITIONS)]

    # --- lifecycle -------------------------------------------------------------------

    def start(self) -> "KafkaRuntime":
        for n in range(1, self.options.workers + 1):
            self.start_worker(f"w{n}")
        self.wait_members(self.options.workers)
        self.wait_changelog()
        return self

    def wait_changelog(self) -> None:
        """Until Faust's changelog of the users table has every partition with a leader.
        Faust makes it itself, after the group forms; a first write racing that has been
        seen to crash a worker (PartitionsMismatch: "the changelog has 0 partitions")."""
        name = f"{self.app_id}-users-changelog"
        deadline = time.monotonic() + self.timeout
        while self.kafka.run(self._leaders(name)) < PARTITIONS:
            self.check_alive()
            if time.monotonic() > deadline:
                raise RuntimeFailure(f"the workers did not create {name} within {self.timeout:g}s\n{self.output()}")
            time.sleep(0.1)

    def start_worker(self, name: str) -> None:
        log = self.directory / f"{name}.log"
        self.metrics_ports[name] = port = free_port()
        self.runs_before[name] = self.runs
        args = [sys.executable, "-m", "engine.cli", "worker", "--kafka", self.options.bootstrap,
                "--redis", self.options.redis, "--config", str(self.files.config),
                "--campaigns", str(self.files.campaigns), "--app-id", self.app_id, "--topic-prefix", self.prefix,
                "--partitions", str(PARTITIONS), "--sends-partitions", str(SENDS_PARTITIONS),
                "--data-dir", str(self.directory / f"data-{name}"), "--metrics-port", str(port), "--reload-interval", "0.1",
                "--commit-interval", "0.1", "--session-timeout", "6", "--heartbeat-interval", "0.5",
                "--standby-replicas", "0", "--loglevel", "warning"]
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env[CLOCK_ENV] = str(self.clock_file)
        with open(log, "ab") as out:
            self.workers[name] = subprocess.Popen(args, cwd=self.directory, env=env, stdout=out,
                                                  stderr=subprocess.STDOUT)

    def kill_worker(self, name: str) -> None:
        """kill -9: no shutdown, no commit, no flush."""
        process = self.workers[name]
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait(10)
        self.exited[name] = process.returncode

    def restart(self, at_ms: int) -> None:
        """kill -9 every worker, move the clock to `at_ms`, start them again on their
        stores: a start after downtime, the clock already at `at_ms`."""
        for name in list(self.workers):
            self.kill_worker(name)
        self.set_clock(at_ms)
        for name in list(self.workers):
            self.exited.pop(name, None)
            self.start_worker(name)
        self.wait_members(self.options.workers)

    def runs_made(self, count: int) -> None:
        """Until every live worker has started each run due since it started. A worker
        notices a clock move within its timer tick, but on a busy machine that can take
        longer than the quiet time `wait_idle` allows, and a run made after the next
        events went in would decide on the wrong states. Each worker counts a run once
        (pushcast_scheduled_runs_total) if it owns a partition, as each does here (fewer
        workers than partitions)."""
        self.runs = count
        deadline = time.monotonic() + self.timeout
        for name, port in self.metrics_ports.items():
            if name in self.exited:
                continue
            want = count - self.runs_before[name]
            while want > 0 and _metric(port, "pushcast_scheduled_runs_total") < want:
                self.check_alive()
                if time.monotonic() > deadline:
                    raise RuntimeFailure(f"worker {name} made {_metric(port, 'pushcast_scheduled_runs_total'):g} of "
                                         f"{want} scheduled run(s) in {self.timeout:g}s\n{self.output()}")
                time.sleep(0.02)

    def winners_judged(self, at_ms: int) -> None:
        """Until the decider (the owner of events partition 0) has judged the A/B winners
        with its clock at `at_ms` or later (its decisions are in the events topic then)."""
        deadline = time.monotonic() + self.timeout
        name = "pushcast_winners_judged_timestamp_seconds"
        while max((_metric(port, name) for w, port in self.metrics_ports.items() if w not in self.exited),
                  default=0.0) * 1000 < at_ms - 0.5:
            self.check_alive()
            if time.monotonic() > deadline:
                raise RuntimeFailure(f"no worker judged the A/B winners at {at_ms} in {self.timeout:g}s\n"
                                     f"{self.output()}")
            time.sleep(0.02)

    def cannot_reload_config(self) -> str | None:
        return None  # workers re-read pushcast.yaml with the campaign files

    def reload_config(self) -> None:
        """Until every live worker reports a successful reload after the file changed
        (its reload timestamp, in wall-clock seconds, moves past the change)."""
        changed = time.time() - 0.001
        deadline = time.monotonic() + self.timeout
        for name, port in self.metrics_ports.items():
            if name in self.exited:
                continue
            while _metric(port, "pushcast_config_last_reload_success_timestamp_seconds") < changed:
                self.check_alive()
                if time.monotonic() > deadline:
                    raise RuntimeFailure(f"worker {name} did not reload pushcast.yaml within {self.timeout:g}s\n"
                                         f"{self.output()}")
                time.sleep(0.05)

    def stop(self) -> None:
        for process in self.workers.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for name, process in self.workers.items():
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill_worker(name)
        try:
            self.kafka.run(self._delete_topics())
        except Exception:  # noqa: BLE001 - a leftover topic is harmless and the report stands
            pass
        finally:
            self.kafka.close()

    def output(self) -> str:
        return "\n".join(f"--- {name}\n{(self.directory / f'{name}.log').read_text(errors='replace')[-3000:]}"
                         for name in self.workers if (self.directory / f"{name}.log").exists())

    def check_alive(self) -> None:
        for name, process in self.workers.items():
            if name not in self.exited and process.poll() is not None:
                raise RuntimeFailure(f"worker {name} exited with {process.returncode}\n{self.output()}")

    # --- what the runner asks ----------------------------------------------------------

    def explain(self, user: str, campaign: str | None) -> list[str]:
        """The user's decision log in words: `pushcast explain --kafka` asks the worker
        owning the user (a process: engine.testing imports no runtime)."""
        command = [sys.executable, "-m", "engine.cli", "explain", user, *([campaign] if campaign else []),
                   "--kafka", self.options.bootstrap, "--topic-prefix", self.prefix, "--timeout", "30",
                   "--campaigns", str(self.files.campaigns)]
        env = {**os.environ, CLOCK_ENV: str(self.clock_file)}
        done = subprocess.run(command, cwd=self.directory, env=env, capture_output=True, text=True, timeout=90)
        return (done.stdout + done.stderr).strip().splitlines()

    def set_clock(self, at_ms: int) -> None:
        if at_ms > self.now:
            write_clock(self.clock_file, at_ms)  # every worker reads it on each `now()`
            self.now = at_ms

    def send(self, records: list[dict]) -> None:
        self.kafka.run(self._produce(records))

    def wait_idle(self) -> None:
        deadline = time.monotonic() + self.timeout
        quiet_since = None
        while True:
            self.check_alive()
            lag = self.kafka.run(self._lag())
            now = time.monotonic()
            if lag == 0:
                quiet_since = quiet_since or now
                if now - quiet_since >= SETTLE_S:
                    return
            else:
                quiet_since = None
            if now > deadline:
                raise RuntimeFailure(f"the workers still had {lag} record(s) to do after {self.timeout:g}s\n"
                                     f"{self.output()}")
            time.sleep(0.03)

    def wait_members(self, count: int) -> None:
        deadline = time.monotonic() + self.timeout
        while self.kafka.run(self._members()) != count:
            self.check_alive()
            if time.monotonic() > deadline:
                raise RuntimeFailure(f"the workers' group did not reach {count} stable member(s) in "
                                     f"{self.timeout:g}s\n{self.output()}")
            time.sleep(0.2)

    # --- Kafka -------------------------------------------------------------------------

    async def _produce(self, records: list[dict]) -> None:
        await self.kafka._ensure()
        producer = self.kafka.producer
        # The record's timestamp is its arrival time for a worker (a missing `ts` is filled
        # from it, and a `ts` too far ahead of it is refused): the test clock's, not ours.
        sent = [await producer.send(self.prefix + "events", value=orjson.dumps(r), key=r["user"].encode(),
                                    timestamp_ms=self.now) for r in records]
        for future in sent:
            await future

    async def _lag(self) -> int:
        from aiokafka import TopicPartition

        await self.kafka._ensure()
        committed = await self.kafka.admin.list_consumer_group_offsets(self.app_id)
        partitions = [TopicPartition(topic, p) for topic, count in self.topics for p in range(count)]
        ends = await self.kafka.consumer.end_offsets(partitions)
        lag = 0
        for tp in partitions:
            meta = committed.get(tp)
            lag += max(0, ends[tp] - (meta.offset if meta is not None and meta.offset >= 0 else 0))
        return lag

    async def _members(self) -> int:
        await self.kafka._ensure()
        (response,) = await self.kafka.admin.describe_consumer_groups([self.app_id])
        _error, _group, state, _ptype, _protocol, members = response.groups[0]
        return len(members) if state == "Stable" else 0

    async def _leaders(self, topic: str) -> int:
        """Partitions of `topic` that have a leader (0 while it does not exist)."""
        await self.kafka._ensure()
        if topic not in await self.kafka.admin.list_topics():
            return 0
        (described,) = await self.kafka.admin.describe_topics([topic])
        return sum(1 for p in described["partitions"] if p["leader"] >= 0) if described["error_code"] == 0 else 0

    async def _delete_topics(self) -> None:
        await self.kafka._ensure()
        mine = [t for t in await self.kafka.admin.list_topics() if t.startswith(self.prefix)]
        if mine:
            await self.kafka.admin.delete_topics(mine)
