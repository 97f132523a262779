"""`pushcast gateway`: the HTTP API of `pushcast run` in front of Kafka workers."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path


def add_gateway_parser(sub) -> argparse.ArgumentParser:
    gw = sub.add_parser("gateway", help="serve the HTTP API (events, browsers, admin) in front of Kafka workers")
    gw.add_argument("--kafka", help="bootstrap servers (default: pushcast.yaml `kafka`, then 127.0.0.1:9092)")
    gw.add_argument("--redis", help="redis:// URL where gateways share which reports they forwarded "
                                    "(default: pushcast.yaml `redis`; 'none': per process)")
    gw.add_argument("--topic-prefix", default="pushcast-", help="the workers' --topic-prefix")
    gw.add_argument("--app-id", default="pushcast", help="the workers' --app-id")
    gw.add_argument("--config", type=Path, help="pushcast.yaml (default: ./pushcast.yaml when present)")
    gw.add_argument("--campaigns", type=Path, nargs="+", default=[Path("campaigns.d")],
                    help="the workers' campaign folder(s) (default: campaigns.d)")
    gw.add_argument("--host", default="127.0.0.1", help="the address to listen on (default: loopback)")
    gw.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    gw.add_argument("--open-events", action="store_true",
                    help="accept non-reserved events on POST /v1/events without the admin token (browser demos)")
    gw.add_argument("--browser-rate", type=float, default=10.0, metavar="PER_SECOND",
                    help="requests a second each address may make to the browser endpoints (burst: 4x; default 10)")
    gw.add_argument("--sdk-dir", type=Path, help=argparse.SUPPRESS)
    gw.add_argument("--loglevel", default="warning")
    gw.set_defaults(func=run_gateway)
    return gw


def run_gateway(args: argparse.Namespace) -> int:
    from engine.gateway.server import GatewayOptions, serve
    from engine.rules.errors import ConfigError, PushcastError

    logging.basicConfig(level=args.loglevel.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not 0 <= args.port <= 65535:
        print(f"pushcast gateway: --port: must be a port number 0..65535, got {args.port}", file=sys.stderr)
        return 1
    options = GatewayOptions(kafka=args.kafka, redis=args.redis, topic_prefix=args.topic_prefix, app_id=args.app_id,
                             config=args.config, campaigns=list(args.campaigns), host=args.host, port=args.port,
                             open_events=args.open_events, browser_rate=args.browser_rate, sdk_dir=args.sdk_dir)
    try:
        return asyncio.run(serve(options))
    except ConfigError as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        print(f"pushcast gateway: {len(error.problems)} problem(s); fix them and start again", file=sys.stderr)
        return 1
    except (PushcastError, OSError) as error:
        print(f"pushcast gateway: {error}", file=sys.stderr)
        return 1
