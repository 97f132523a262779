"""`pushcast backtest`: campaigns over past events, from the command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.core import CampaignSet
from engine.rules.config import load_config
from engine.rules.errors import ConfigError, PushcastError
from engine.rules.loader import load_campaigns
from engine.rules.parse import parse_datetime


def select_campaigns(names: list[str], folder: Path) -> list:
    """Campaigns by id (from the folder) or by file path."""
    files = [Path(n) for n in names if n.endswith((".yaml", ".yml"))]
    ids = [n for n in names if not n.endswith((".yaml", ".yml"))]
    chosen = list(load_campaigns(files)) if files else []
    if ids:
        by_id = {c.id: c for c in load_campaigns([folder])}
        missing = [i for i in ids if i not in by_id]
        if missing:
            raise PushcastError(f"no campaign {', '.join(map(repr, missing))} in {folder} (known: {', '.join(sorted(by_id))})")
        chosen += [by_id[i] for i in ids]
    return chosen


def _backtest(args: argparse.Namespace) -> int:
    from datetime import timezone

    from engine.testing.backtest import backtest, print_report

    try:
        config = load_config(args.config) if args.config else None
        campaigns = CampaignSet(select_campaigns(args.campaigns, args.folder), config)
        start = parse_datetime(args.start, timezone.utc) if args.start else None
        end = parse_datetime(args.end, timezone.utc) if args.end else None
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 1
    except (PushcastError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if not args.events.exists():
        print(f"error: --events {args.events}: no such file", file=sys.stderr)
        return 1
    print_report(backtest(campaigns, args.events, start, end), sys.stdout, show=args.show)
    return 0


def add_backtest_parser(sub) -> None:
    parser = sub.add_parser("backtest", help="replay past events through campaigns, sending nothing")
    parser.add_argument("campaigns", nargs="+", help="campaign ids (from --folder) or campaign files")
    parser.add_argument("--events", type=Path, required=True, help="newline-delimited JSON events, each with ts")
    parser.add_argument("--from", dest="start", help="ignore events before this datetime (UTC if no offset)")
    parser.add_argument("--to", dest="end", help="ignore events from this datetime on; the clock stops here")
    parser.add_argument("--config", type=Path, default=Path("pushcast.yaml") if Path("pushcast.yaml").exists() else None)
    parser.add_argument("--folder", type=Path, default=Path("campaigns.d"))
    parser.add_argument("--show", type=int, default=20, help="notifications to list")
    parser.set_defaults(func=_backtest)
