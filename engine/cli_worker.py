"""`pushcast worker`: one Kafka worker (user agent, timers, scheduler, sender agent).

Any number of workers with the same `--app-id` share the partitions; a second machine
needs only the same flags, Kafka and Redis.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from engine.agents.settings import WorkerSettings
from engine.rules.errors import PushcastError
from engine.shell.collector import tune_collector


def add_worker_parser(sub) -> None:
    d = WorkerSettings()
    worker = sub.add_parser("worker", help="run a Kafka worker (Faust): rules, timers, sending")
    worker.add_argument("--kafka", help="bootstrap servers (default: pushcast.yaml `kafka`, then 127.0.0.1:9092)")
    worker.add_argument("--redis", help="redis:// URL for shared rate limits and send de-duplication "
                                        "(default: pushcast.yaml `redis`; 'none' to run without)")
    worker.add_argument("--config", type=Path, help="pushcast.yaml (default: ./pushcast.yaml if present)")
    worker.add_argument("--campaigns", type=Path, nargs="+", default=[Path("campaigns.d")])
    worker.add_argument("--app-id", default=d.app_id, help="the consumer group: workers with the same id share work")
    worker.add_argument("--topic-prefix", default="pushcast-",
                        help="topics are PREFIXevents, PREFIXsends, PREFIXdead-letters, PREFIXreach-replies")
    worker.add_argument("--partitions", type=int, default=d.partitions,
                        help="partitions of the events topic and state table when they are created")
    worker.add_argument("--sends-partitions", type=int, default=d.sends_partitions)
    worker.add_argument("--replication", type=int, default=d.replication)
    worker.add_argument("--store", choices=("rocksdb", "memory"), default=d.store,
                        help="table store: rocksdb (rocksdict, on local disk under --data-dir) or memory "
                             "(rebuilt from the changelog at every start)")
    worker.add_argument("--data-dir", type=Path,
                        help="local table stores, one folder per worker (default: the first free "
                             ".pushcast/kafka/worker-N, so workers on one machine never share one)")
    worker.add_argument("--standby-replicas", type=int, default=d.standby_replicas)
    worker.add_argument("--metrics-port", type=int,
                        help="Prometheus /metrics (default: 9464 for worker-1 of this machine, 9465 for "
                             "worker-2, ...; 0: off)")
    worker.add_argument("--metrics-host", default=d.metrics_host,
                        help="the address /metrics listens on (default: loopback; 0.0.0.0 for every interface)")
    worker.add_argument("--api-port", type=int, default=0,
                        help="serve POST /v1/campaigns/{id}/reach and /send-test on this port (default 0: off); "
                             "admin token: $PUSHCAST_ADMIN_TOKEN, else pushcast.yaml admin_token")
    worker.add_argument("--api-host", default=d.api_host,
                        help="the address the worker API listens on (default: loopback)")
    worker.add_argument("--dry-run", action="store_true",
                        help="decide and report, but accept every send without contacting a push service")
    worker.add_argument("--batch-size", type=int, default=d.batch_size)
    worker.add_argument("--run-step", type=int, default=d.run_step,
                        help="stored users a scheduled run reads per step; live events are applied between "
                             "steps (default %(default)s)")
    worker.add_argument("--run-ahead", type=int, default=d.run_ahead,
                        help="steps of a scheduled run announced ahead in its partition, so that they do not "
                             "wait behind the send results of the steps before (default %(default)s)")
    worker.add_argument("--reach-processes", type=int, default=d.reach_processes,
                        help="processes that count reach questions, each reading the partitions' RocksDB "
                             "databases itself, so the count runs on every core and never holds the worker's "
                             "event loop; 0: count in the worker's own thread (default: the CPUs, at most 2: "
                             "%(default)s)")
    worker.add_argument("--single-records", action="store_true",
                        help="write each notification and delivery result as a record of its own, as versions "
                             "before batched records did: for a rolling upgrade from one (docs/kafka.md, Upgrades)")
    worker.add_argument("--commit-interval", type=float, default=d.commit_interval, help="seconds")
    worker.add_argument("--session-timeout", type=float, default=d.session_timeout,
                        help="seconds before Kafka itself moves a silent worker's partitions (at least the "
                             "broker's group.min.session.timeout.ms, 6 s by default)")
    worker.add_argument("--heartbeat-interval", type=float, default=d.heartbeat_interval)
    worker.add_argument("--uvloop", action=argparse.BooleanOptionalAction, default=True,
                        help="run every event loop of the worker on uvloop (the default; --no-uvloop: asyncio's); "
                             "bench/RESULTS.md has the measure")
    worker.add_argument("--peer-timeout", type=float, default=d.peer_timeout,
                        help="seconds before the other workers remove a silent (killed) worker from the group "
                             "and take its partitions; 0: off, wait for the session timeout")
    worker.add_argument("--reload-interval", type=float, default=d.reload_interval,
                        help="seconds between checks of the campaign files")
    worker.add_argument("--dedup-lease", type=float, default=d.dedup_lease_ms / 1000,
                        help="seconds a send claim lasts without renewal")
    worker.add_argument("--loglevel", default=d.loglevel)
    worker.set_defaults(func=run_worker)


def _check_flags(args: argparse.Namespace) -> None:
    for flag, value in (("--partitions", args.partitions), ("--sends-partitions", args.sends_partitions),
                        ("--replication", args.replication), ("--run-step", args.run_step),
                        ("--run-ahead", args.run_ahead)):
        if value < 1:
            raise PushcastError(f"{flag}: must be at least 1, got {value}")
    if args.reach_processes < 0:
        raise PushcastError(f"--reach-processes: must be 0 (count in the worker's thread) or more, "
                            f"got {args.reach_processes}")
    for flag, value in (("--metrics-port", args.metrics_port), ("--api-port", args.api_port)):
        if value is not None and not 0 <= value <= 65535:
            raise PushcastError(f"{flag}: must be a port number 0..65535 (0: off), got {value}")


def settings_from_args(args: argparse.Namespace):
    from engine.agents.track_secret import track_secret
    from engine.rules.config import load_config

    _check_flags(args)

    config_path = args.config
    if config_path is None and Path("pushcast.yaml").exists():
        config_path = Path("pushcast.yaml")
    config = load_config(config_path)
    d = WorkerSettings()
    redis = args.redis if args.redis is not None else config.redis
    settings = WorkerSettings(
        bootstrap=args.kafka or config.kafka or "127.0.0.1:9092",
        app_id=args.app_id,
        events_topic=f"{args.topic_prefix}events",
        sends_topic=f"{args.topic_prefix}sends",
        dead_letter_topic=f"{args.topic_prefix}dead-letters",
        reach_replies_topic=f"{args.topic_prefix}reach-replies",
        partitions=args.partitions,
        sends_partitions=args.sends_partitions,
        replication=args.replication,
        store=args.store,
        data_dir=args.data_dir or d.data_dir,
        standby_replicas=args.standby_replicas,
        campaigns=list(args.campaigns),
        config=config_path,
        redis=None if redis in (None, "", "none") else redis,
        dry_run=args.dry_run,
        metrics_port=args.metrics_port or None,
        metrics_host=args.metrics_host,
        api_port=args.api_port or None,
        api_host=args.api_host,
        admin_token=_api_token(config) if args.api_port else None,
        track_secret=track_secret(config),
        batch_size=args.batch_size,
        run_step=args.run_step,
        run_ahead=args.run_ahead,
        reach_processes=args.reach_processes,
        single_records=args.single_records,
        commit_interval=args.commit_interval,
        session_timeout=args.session_timeout,
        heartbeat_interval=args.heartbeat_interval,
        peer_timeout=args.peer_timeout,
        reload_interval=args.reload_interval,
        dedup_lease_ms=int(args.dedup_lease * 1000),
        loglevel=args.loglevel,
    )
    return settings, config


def _api_token(config) -> str:
    """The worker API's bearer token: the same on every worker, so never generated here."""
    from engine.rules.config import MIN_TOKEN_LENGTH

    token = os.environ.get("PUSHCAST_ADMIN_TOKEN") or config.admin_token
    if not token:
        raise PushcastError("--api-port: the worker API needs an admin token: set admin_token in pushcast.yaml "
                            "or $PUSHCAST_ADMIN_TOKEN (the same on every worker)")
    if len(token) < MIN_TOKEN_LENGTH:
        raise PushcastError(f"PUSHCAST_ADMIN_TOKEN: must be at least {MIN_TOKEN_LENGTH} characters "
                            "(try: openssl rand -hex 24)")
    return token


def build_runtime(settings: WorkerSettings, config):
    from connectors.push.config import build_sender
    from connectors.push.transport import MockTransport, PushResponse
    from connectors.redis_dedup import MemorySendDedup, RedisSendDedup
    from engine.agents.app import create_runtime
    from engine.shell.clock import clock_from_env

    transport = MockTransport(lambda request: PushResponse(201)) if settings.dry_run else None
    if settings.redis:
        from connectors.push.config import allowlist_and_rates
        from connectors.push.ratelimit import RedisRateLimiter

        _, rates, default = allowlist_and_rates(config.push_services)
        limiter = RedisRateLimiter.from_url(settings.redis, rates, default)
        # Keyed by app id too: two deployments sharing a Redis must not suppress each
        # other's sends (message ids are the same for the same campaign and user).
        dedup = RedisSendDedup.from_url(settings.redis, lease_ms=settings.dedup_lease_ms,
                                        prefix=f"pushcast:{settings.app_id}:sent:")
    else:
        limiter = None
        dedup = MemorySendDedup()
    sender = build_sender(config, transport=transport, rate_limiter=limiter)
    return create_runtime(settings, sender=sender, dedup=dedup, clock=clock_from_env())


def prepare(args: argparse.Namespace):
    """Everything that can fail on a flag, the config or Kafka, before Faust starts: this
    worker's folder and metrics port on this machine, the VAPID key and campaigns, the
    topics. (runtime, settings); raises PushcastError naming what to change."""
    from dataclasses import replace

    from engine.agents.slot import check_port, claim, port_error
    from engine.agents.topics import ensure_worker_topics

    settings, config = settings_from_args(args)
    slot = claim(args.data_dir, args.metrics_port)
    settings = replace(settings, data_dir=slot.data_dir, metrics_port=slot.metrics_port)
    if settings.api_port:
        check_port(settings.api_host, settings.api_port, "--api-port")
    runtime = build_runtime(settings, config)
    if settings.metrics_port:  # local problems first, then Kafka
        from prometheus_client import start_http_server

        try:
            start_http_server(settings.metrics_port, addr=settings.metrics_host, registry=runtime.metrics.registry)
        except OSError as exc:
            raise port_error(slot.metrics_flag, settings.metrics_host, settings.metrics_port, exc) from None
    ensure_worker_topics(settings)
    logging.getLogger(__name__).warning(
        "worker %d of this machine: store in %s, metrics on %s", slot.number, settings.data_dir,
        f"http://{settings.metrics_host}:{settings.metrics_port}/metrics" if settings.metrics_port else "off")
    return runtime, settings


def _uvloop():
    """Every event loop of the worker on uvloop (`--uvloop`): the policy, so that the loops
    of Faust's consumer thread and of the peer watch are uvloop's too."""
    import asyncio

    try:
        import uvloop
    except ImportError:
        raise PushcastError("uvloop is not installed (a dependency of pushcast: pip install uvloop); "
                            "--no-uvloop runs without it") from None
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    return loop


def run_worker(args: argparse.Namespace) -> int:
    import faust

    logging.basicConfig(level=args.loglevel.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        # The loop first: Faust's app and transport keep the loop current when they are made.
        loop = _uvloop() if args.uvloop else None
        runtime, settings = prepare(args)
    except PushcastError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    tune_collector()  # rarer cycle-collector passes, as `pushcast run` (engine/shell/collector.py)
    worker = faust.Worker(runtime.app, loglevel=settings.loglevel.upper(), quiet=True,
                          loop=loop)
    worker.execute_from_commandline()  # returns only at shutdown (it exits the process)
    return 0


if __name__ == "__main__":  # `python -m engine.cli_worker ...` without the full CLI
    parser = argparse.ArgumentParser(prog="pushcast")
    add_worker_parser(parser.add_subparsers(dest="command", required=True))
    ns = parser.parse_args(["worker", *sys.argv[1:]])
    sys.exit(ns.func(ns))
