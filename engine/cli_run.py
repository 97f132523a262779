"""`pushcast run` and `pushcast stats`: the embedded runtime and its campaign stats."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_run_parser(sub) -> argparse.ArgumentParser:
    run = sub.add_parser("run", help="run the embedded runtime: HTTP API, timers, sending, local state")
    run.add_argument("--config", type=Path, help="pushcast.yaml (default: ./pushcast.yaml when present)")
    run.add_argument("--campaigns", type=Path, default=Path("campaigns.d"), help="campaign folder (default: campaigns.d)")
    run.add_argument("--events", metavar="FILE|-", help="also read newline-delimited JSON events from FILE or stdin")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    run.add_argument("--state-dir", type=Path, help="where state is kept (default: state_dir of pushcast.yaml, .pushcast)")
    run.add_argument("--test-clock", nargs="?", const="now", metavar="ISO",
                     help="a clock that moves only by POST /v1/admin/clock (tests); starts now or at ISO")
    run.add_argument("--open-events", action="store_true",
                     help="accept non-reserved events on POST /v1/events without the admin token (browser demos)")
    run.add_argument("--browser-rate", type=float, default=10.0, metavar="PER_SECOND",
                     help="requests a second each address may make to the browser endpoints (burst: 4x; default 10)")
    run.add_argument("--sdk-dir", type=Path, help=argparse.SUPPRESS)
    run.set_defaults(func=run_command)
    return run


def add_stats_parser(sub) -> argparse.ArgumentParser:
    stats = sub.add_parser("stats", help="print campaign stats from the state dir (or the Kafka workers)")
    stats.add_argument("campaign", nargs="?", help="one campaign (default: all)")
    stats.add_argument("--state-dir", type=Path, default=Path(".pushcast"))
    stats.add_argument("--json", action="store_true", help="print JSON instead of a table")
    stats.add_argument("--kafka", metavar="HOST:PORT", help="ask the running Kafka workers instead of the state dir")
    stats.add_argument("--topic-prefix", default="pushcast-", help="the workers' --topic-prefix (with --kafka)")
    stats.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for every partition's answer")
    stats.set_defaults(func=stats_command)
    return stats


def run_command(args: argparse.Namespace) -> int:
    from engine.local.server import RunOptions, run

    return run(RunOptions(config=args.config, campaigns=args.campaigns, events=args.events, host=args.host,
                          port=args.port, state_dir=args.state_dir, test_clock=args.test_clock,
                          open_events=args.open_events, sdk_dir=args.sdk_dir,
                          browser_rate=args.browser_rate))


def stats_command(args: argparse.Namespace) -> int:
    from engine.cli_stats import print_stats, stats_over_kafka
    from engine.local.store import DB_NAME, Store

    if args.kafka:
        return stats_over_kafka(args)
    path = args.state_dir / DB_NAME
    if not path.exists():
        print(f"pushcast stats: no state in {args.state_dir} (start `pushcast run` first, or pass --state-dir)",
              file=sys.stderr)
        return 1
    from engine.shell import engagement
    from engine.shell.winners import META_PREFIX, Decision

    store = Store(path, synchronous="NORMAL")
    try:
        stored = store.stats(args.campaign)
        winners = {key[len(META_PREFIX):]: Decision.from_json(value).as_stats()
                   for key, value in store.metas(META_PREFIX)}
        kept = store.get_meta(engagement.META_KEY)
    finally:
        store.close()
    guard = engagement.loads(kept)[1] if kept is not None else {}
    held = {name: engagement.as_stats(guard, name) for name in stored}
    return print_stats(stored, args.campaign, args.json, winners, held)
