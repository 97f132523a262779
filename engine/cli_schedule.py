"""`pushcast reach` and `pushcast send-test`: a campaign's audience before pressing send,
and a test send to the test profiles.

`reach` reads the embedded runtime's store itself (read-only; safe while `pushcast run`
is running, whose committed state it sees); with `--kafka` it asks the running workers,
one question per partition (`engine.agents.reach`). `send-test` asks the running server
(`POST /v1/campaigns/{id}/send-test`): sending belongs to the runtime's outbox and
sender, so a test send needs `pushcast run` up; with `--kafka` it asks the running
workers instead (`engine.agents.send_test`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

from engine.rules.config import load_config
from engine.rules.errors import ConfigError, PushcastError

DEFAULT_URL = "http://127.0.0.1:8080"


def _config(path: Path | None):
    """pushcast.yaml (given, or ./pushcast.yaml when present) and its folder."""
    if path is None and Path("pushcast.yaml").exists():
        path = Path("pushcast.yaml")
    if path is not None and not path.exists():
        raise PushcastError(f"--config {path}: no such file")
    return load_config(path), (path.parent if path is not None else None)


def _state_dir(args, config, base: Path | None) -> Path:
    if args.state_dir is not None:
        return args.state_dir
    state_dir = Path(config.state_dir)
    return state_dir if state_dir.is_absolute() or base is None else base / state_dir


def _now(args, store_meta) -> tuple[int, str]:
    """The moment to evaluate at: --at, else a test clock's last reading, else now."""
    from engine.core.isotime import parse_iso
    from engine.shell.clock import now_ms

    if args.at:
        return parse_iso(args.at), "--at"
    saved = store_meta("test_clock")
    if saved is not None:
        return int(saved), "the runtime's test clock"
    return now_ms(), "now"


def _reach_over_kafka(args: argparse.Namespace):
    """Ask the running workers: each partition's owner counts its users (exact)."""
    import asyncio

    from engine.shell.clock import clock_from_env
    from engine.agents.reach import request_reach
    from engine.core.isotime import parse_iso

    at, source = (parse_iso(args.at), "--at") if args.at else (clock_from_env().now(), "now")
    found = asyncio.run(request_reach(args.kafka, f"{args.topic_prefix}events", f"{args.topic_prefix}reach-replies",
                                      args.campaign, at, timeout=args.timeout))
    return found, source


def reach_command(args: argparse.Namespace) -> int:
    from engine.agents.reach import ReachError
    from engine.core.isotime import iso

    try:
        if args.kafka:
            found, source = _reach_over_kafka(args)
        else:
            found, source = _reach_over_store(args)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 1
    except (PushcastError, ReachError, ValueError) as error:
        print(f"pushcast reach: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({**found.to_dict(), "at": iso(found.at)}, indent=2))
        return 0
    print(f"campaign {found.campaign} at {iso(found.at)} ({source}), {found.users} stored user(s) "
          f"read in {found.seconds:.2f}s")
    print(f"  qualified        {found.qualified}")
    print(f"  reachable        {found.reachable}")
    print(f"  no subscription  {found.no_subscription}")
    print(f"  test profiles    {found.test_profiles}")
    return 0


def _reach_over_store(args: argparse.Namespace):
    """Read the embedded runtime's store (read-only, beside a running `pushcast run`)."""
    from engine.local.reach import reach_of_store
    from engine.core import CampaignSet
    from engine.local.store import DB_NAME, Store
    from engine.rules.loader import load_campaigns

    config, base = _config(args.config)
    campaigns = CampaignSet(load_campaigns([args.campaigns]), config)
    state_dir = _state_dir(args, config, base)
    compiled = campaigns.get(args.campaign)
    if compiled is None:
        raise PushcastError(f"no campaign {args.campaign!r} in {args.campaigns} "
                            f"(known: {', '.join(sorted(campaigns.by_id)) or 'none'})")
    db_path = state_dir / DB_NAME
    if not db_path.exists():
        raise PushcastError(f"no state in {state_dir} (start `pushcast run` first, or pass --state-dir)")
    store = Store(db_path, synchronous="NORMAL")
    try:
        now, source = _now(args, store.get_meta)
    finally:
        store.close()
    return reach_of_store(db_path, compiled, now, campaigns), source


def _token(args, config, state_dir: Path) -> str | None:
    from engine.local.keys import ADMIN_TOKEN_FILE

    if args.token:
        return args.token
    if os.environ.get("PUSHCAST_ADMIN_TOKEN"):
        return os.environ["PUSHCAST_ADMIN_TOKEN"]
    if config.admin_token:
        return config.admin_token
    path = state_dir / ADMIN_TOKEN_FILE
    return path.read_text().strip() if path.exists() else None


def _send_test_over_kafka(args: argparse.Namespace) -> int:
    """Ask the running workers: each user's owner decides and sends (see engine.agents.send_test)."""
    import asyncio

    from engine.shell.clock import clock_from_env
    from engine.agents.send_test import request_test_send

    try:
        result = asyncio.run(request_test_send(
            args.kafka, f"{args.topic_prefix}events", f"{args.topic_prefix}reach-replies", args.campaign,
            args.user or None, clock_from_env().now(), timeout=args.timeout))
    except PushcastError as error:  # unknown campaign, not a test user, no answer in time
        print(f"pushcast send-test: {error}", file=sys.stderr)
        return 1
    return _print_send_test(result, args.json)


def send_test_command(args: argparse.Namespace) -> int:
    if args.kafka:
        return _send_test_over_kafka(args)
    try:
        config, base = _config(args.config)
        state_dir = _state_dir(args, config, base)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 1
    except PushcastError as error:
        print(f"pushcast send-test: {error}", file=sys.stderr)
        return 1
    token = _token(args, config, state_dir)
    if token is None:
        from engine.local.keys import ADMIN_TOKEN_FILE

        print(f"pushcast send-test: no admin token: pass --token, set PUSHCAST_ADMIN_TOKEN, or point --state-dir "
              f"at the runtime's state (no {state_dir / ADMIN_TOKEN_FILE})", file=sys.stderr)
        return 1
    url = f"{args.url.rstrip('/')}/v1/campaigns/{args.campaign}/send-test"
    try:
        result = admin_call(url, token, args.timeout, {"user": args.user} if args.user else {},
                            hint="test sends go through a running `pushcast run` (pass --url)")
    except PushcastError as error:
        print(f"pushcast send-test: {error}", file=sys.stderr)
        return 1
    return _print_send_test(result, args.json)


def admin_call(url: str, token: str, timeout: float, body: dict | None = None, *, hint: str) -> dict | None:
    """One admin API call (POST with `body`, else GET) with the bearer token: its JSON
    answer, or None for a GET answered 404. PushcastError names the server's `error`, or
    says the runtime is unreachable and what to do (`hint`)."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Authorization": f"Bearer {token}", **({"Content-Type": "application/json"} if data else {})}
    request = urllib.request.Request(url, data=data, method="GET" if data is None else "POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        if exc.code == 404 and data is None:
            return None
        try:
            message = json.loads(exc.read()).get("error", exc.reason)
        except ValueError:
            message = exc.reason
        raise PushcastError(f"{url} answered {exc.code}: {message}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise PushcastError(f"cannot reach the runtime at {url} ({getattr(exc, 'reason', exc)}); {hint}") from None


def _print_send_test(result: dict, as_json: bool) -> int:
    """The summary; exit code 1 when nothing was sent."""
    if as_json:
        print(json.dumps(result, indent=2))
        return 0 if result["sent"] else 1
    print(f"campaign {result['campaign']}: test send {result['request']} to {result['sent']} of "
          f"{result['test_users']} test user(s)")
    for item in result["results"]:
        if item["sent"]:
            print(f"  {item['user']}: queued to {item['subscriptions']} subscription(s): {item['title']!r}")
        else:
            detail = f" ({item['detail']})" if item.get("detail") else ""
            print(f"  {item['user']}: not sent, {item['reason']}{detail}")
    if not result["test_users"]:
        print("  no test profiles: send a $profile event with test: true, or list users in test_users in pushcast.yaml")
    return 0 if result["sent"] else 1


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("campaign", help="campaign id")
    parser.add_argument("--config", type=Path, help="pushcast.yaml (default: ./pushcast.yaml when present)")
    parser.add_argument("--state-dir", type=Path,
                        help="the runtime's state dir (default: state_dir of pushcast.yaml, .pushcast)")
    parser.add_argument("--json", action="store_true", help="print JSON")


def _kafka_options(parser: argparse.ArgumentParser, kafka_help: str, timeout_help: str) -> None:
    parser.add_argument("--kafka", metavar="HOST:PORT", help=kafka_help)
    parser.add_argument("--topic-prefix", default="pushcast-", help="the workers' --topic-prefix (with --kafka)")
    parser.add_argument("--timeout", type=float, default=30.0, help=timeout_help)


def add_reach_parser(sub) -> argparse.ArgumentParser:
    reach = sub.add_parser("reach", help="how many stored users qualify for a campaign now, and how many are reachable")
    _common(reach)
    reach.add_argument("--campaigns", type=Path, default=Path("campaigns.d"), help="campaign folder (default: campaigns.d)")
    reach.add_argument("--at", metavar="ISO", help="evaluate at this moment (default: now, or the runtime's test clock)")
    _kafka_options(reach, "ask the running Kafka workers instead of reading the embedded store",
                   "seconds to wait for every partition's answer")
    reach.set_defaults(func=reach_command)
    return reach


def add_send_test_parser(sub) -> argparse.ArgumentParser:
    send = sub.add_parser("send-test", help="send a campaign now to the test profiles, through the running server "
                                            "(or Kafka workers)")
    _common(send)
    send.add_argument("--user", help="only this test user")
    send.add_argument("--url", default=os.environ.get("PUSHCAST_URL", DEFAULT_URL),
                      help=f"the running `pushcast run` (default: $PUSHCAST_URL or {DEFAULT_URL})")
    send.add_argument("--token", help="admin token (default: $PUSHCAST_ADMIN_TOKEN, pushcast.yaml, the state dir)")
    _kafka_options(send, "ask the running Kafka workers instead of the `pushcast run` server",
                   "seconds to wait for the answers")
    send.set_defaults(func=send_test_command)
    return send

