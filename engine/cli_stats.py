"""`pushcast stats`: campaign stats of the embedded runtime's store, or, with `--kafka`,
of the running workers (one answer per partition, summed: engine.agents.stats). Both
print the same table and JSON (engine.shell.stats)."""

from __future__ import annotations

import argparse
import json
import sys


def print_stats(stored: dict[str, dict[str, float]], campaign: str | None, as_json: bool,
                winners: dict[str, dict] | None = None, held: dict[str, dict] | None = None) -> int:
    """The rows of `stored` ({campaign: {stat: amount}}), with the A/B winners decided
    ({campaign: decision}) and the engagement guard's verdicts ({campaign: verdict}); exit 1 when the one campaign asked for has no stats yet."""
    from engine.shell.stats import campaign_stats, format_table

    if campaign is not None and not stored:
        print(f"pushcast stats: no stats for campaign {campaign!r} yet", file=sys.stderr)
        return 1
    winners = winners or {}
    held = held or {}
    rows = [campaign_stats(name, metrics, winners.get(name), held.get(name)) for name, metrics in sorted(stored.items())]
    if as_json:
        print(json.dumps(rows, indent=2))
    else:
        sys.stdout.write(format_table(rows) if rows else "no stats yet\n")
    return 0


def stats_over_kafka(args: argparse.Namespace) -> int:
    """Ask the running workers: each partition's owner answers its running totals."""
    import asyncio

    from engine.agents.stats import StatsError, request_stats

    prefix = args.topic_prefix
    winners: dict = {}
    held: dict = {}
    try:
        stored = asyncio.run(request_stats(args.kafka, f"{prefix}events", f"{prefix}reach-replies", args.campaign,
                                           timeout=args.timeout, winners=winners, engagement=held))
    except (StatsError, OSError) as error:
        print(f"pushcast stats: {error}", file=sys.stderr)
        return 1
    except Exception as error:  # aiokafka's: no broker there, no such topic
        print(f"pushcast stats: cannot ask the workers at {args.kafka}: {error!r}", file=sys.stderr)
        return 1
    return print_stats(stored, args.campaign, args.json, winners, held)
