"""`pushcast explain USER [CAMPAIGN]`: why a user was or was not sent a campaign, from the
user's decision log (engine.core.decisions), in words (engine.shell.explain).

It asks the running `pushcast run` or `pushcast gateway` over HTTP
(`GET /v1/users/{id}/decisions`, admin token as `pushcast send-test` finds it); with
`--kafka` it asks the worker owning the user directly (engine.agents.reach).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.parse
from pathlib import Path

from engine.cli_schedule import DEFAULT_URL, _config, _state_dir, _token, admin_call
from engine.rules.errors import ConfigError, PushcastError


def _over_http(args: argparse.Namespace) -> list[dict] | None:
    """The decisions as the API's JSON items; None when the user has no state."""
    config, base = _config(args.config)
    token = _token(args, config, _state_dir(args, config, base))
    if token is None:
        raise PushcastError("no admin token: pass --token, set PUSHCAST_ADMIN_TOKEN, or point --state-dir at the "
                            "runtime's state")
    query = urllib.parse.urlencode({"campaign": args.campaign} if args.campaign else {})
    url = f"{args.url.rstrip('/')}/v1/users/{urllib.parse.quote(args.user, safe='')}/decisions"
    answer = admin_call(url + (f"?{query}" if query else ""), token, args.timeout,
                        hint="start `pushcast run` or the gateway, or pass --url or --kafka")
    return None if answer is None else answer["decisions"]


def _over_kafka(args: argparse.Namespace) -> list[dict] | None:
    import asyncio

    from engine.agents.reach import request_user_state
    from engine.core.decisions import entries
    from engine.core.state import UserState
    from engine.shell.clock import clock_from_env

    prefix = args.topic_prefix
    answered, raw = asyncio.run(request_user_state(args.kafka, f"{prefix}events", f"{prefix}reach-replies",
                                                   args.user, clock_from_env().now(), args.timeout))
    if not answered:
        raise PushcastError(f"no answer about user {args.user!r} within {args.timeout:g}s "
                            "(are the workers running, and with this --topic-prefix?)")
    if raw is None:
        return None
    return [e.to_dict() for e in entries(UserState.loads(raw), args.campaign, _campaigns(args.campaigns))]


def _campaigns(folders: list[Path]):
    """The campaigns the workers run, to put failed segment conditions in words; None
    (conditions shown by their place) when the folder is not here or does not load."""
    from engine.core.campaigns import CampaignSet
    from engine.rules.loader import load_campaigns

    present = [folder for folder in folders if folder.exists()]
    if not present:
        return None
    try:
        return CampaignSet(load_campaigns(present))
    except PushcastError:
        return None


def explain_command(args: argparse.Namespace) -> int:
    from engine.core.isotime import iso, parse_iso
    from engine.shell.explain import entries_from_json, explain_lines

    try:
        items = _over_kafka(args) if args.kafka else _over_http(args)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 1
    except PushcastError as error:
        print(f"pushcast explain: {error}", file=sys.stderr)
        return 1
    except Exception as error:  # aiokafka's: no broker there, no such topic
        print(f"pushcast explain: cannot ask the workers at {args.kafka}: {error!r}", file=sys.stderr)
        return 1
    if items is None:
        print(f"pushcast explain: no state for user {args.user!r} (no event of theirs was applied)", file=sys.stderr)
        return 1
    # The API writes times as ISO 8601, the Kafka answer as epoch ms: the same entries.
    found = entries_from_json([{k: v for k, v in item.items() if k != "text"}
                               | {"at": parse_iso(item["at"]) if isinstance(item["at"], str) else item["at"]}
                               for item in items])
    if args.json:
        print(json.dumps([{**e.to_dict(), "at": iso(e.at)} for e in found], indent=2))
    else:
        print("\n".join(explain_lines(found, args.user, args.campaign)))
    return 0


def add_explain_parser(sub) -> argparse.ArgumentParser:
    explain = sub.add_parser("explain", help="why a user was or was not sent a campaign: their last decisions, "
                                             "from the running server (or Kafka workers)")
    explain.add_argument("user", help="user id")
    explain.add_argument("campaign", nargs="?", help="only this campaign's decisions")
    explain.add_argument("--url", default=os.environ.get("PUSHCAST_URL", DEFAULT_URL),
                         help=f"the running `pushcast run` or gateway (default: $PUSHCAST_URL or {DEFAULT_URL})")
    explain.add_argument("--token", help="admin token (default: $PUSHCAST_ADMIN_TOKEN, pushcast.yaml, the state dir)")
    explain.add_argument("--config", type=Path, help="pushcast.yaml (default: ./pushcast.yaml when present)")
    explain.add_argument("--state-dir", type=Path,
                         help="the runtime's state dir, for its admin token (default: state_dir of pushcast.yaml)")
    explain.add_argument("--json", action="store_true", help="print JSON")
    explain.add_argument("--kafka", metavar="HOST:PORT", help="ask the running Kafka workers instead of a server")
    explain.add_argument("--topic-prefix", default="pushcast-", help="the workers' --topic-prefix (with --kafka)")
    explain.add_argument("--campaigns", type=Path, nargs="+", default=[Path("campaigns.d")],
                         help="with --kafka: the workers' campaign folder(s), to word failed segment conditions "
                              "(default: campaigns.d)")
    explain.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the answer")
    explain.set_defaults(func=explain_command)
    return explain
