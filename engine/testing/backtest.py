"""`pushcast backtest`: replay a historical event file through campaigns, sending nothing."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Iterator

import orjson

from engine.core import CampaignSet, Event, EventError, Notify, Qualified, Suppressed, parse_event
from engine.testing.simulator import Simulation


@dataclass
class BadLine:
    line: int
    reason: str


@dataclass
class BacktestReport:
    campaigns: list[str] = field(default_factory=list)
    events: int = 0
    bad_lines: list[BadLine] = field(default_factory=list)
    notifications: list[Notify] = field(default_factory=list)
    qualified: Counter = field(default_factory=Counter)
    suppressed: Counter = field(default_factory=Counter)  # (campaign, reason) -> count


def read_events(path: Path, bad: list[BadLine], start: int | None, end: int | None) -> Iterator[tuple[int, Event]]:
    """NDJSON events in file order; bad lines are recorded with their number, not fatal.
    An event without `ts` has no arrival time in a file, so it is a bad line here."""
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                data = orjson.loads(raw)
                if isinstance(data, dict) and "ts" not in data:
                    raise EventError("ts", "required in a backtest file (there is no arrival time)")
                event = parse_event(data, 0, None)  # past events: no arrival to bound them
            except orjson.JSONDecodeError as error:
                bad.append(BadLine(number, f"not JSON: {error}"))
                continue
            except EventError as error:
                bad.append(BadLine(number, str(error)))
                continue
            if (start is not None and event.ts < start) or (end is not None and event.ts >= end):
                continue
            yield event.ts, event


def backtest(campaigns: CampaignSet, path: Path, start: int | None = None, end: int | None = None) -> BacktestReport:
    report = BacktestReport(campaigns=sorted(campaigns.by_id))
    events = sorted(read_events(path, report.bad_lines, start, end), key=lambda pair: pair[0])
    report.events = len(events)
    if not events:
        return report
    sim = Simulation(campaigns, started=start if start is not None else events[0][0])
    sim.run(events, end if end is not None else events[-1][0])
    for effect in sim.effects:
        if isinstance(effect, Notify):
            report.notifications.append(effect)
        elif isinstance(effect, Qualified):
            report.qualified[effect.campaign] += 1
        elif isinstance(effect, Suppressed):
            report.suppressed[(effect.campaign, effect.reason)] += 1
    return report


def print_report(report: BacktestReport, out: IO[str], show: int = 20) -> None:
    from engine.rules.parse import format_ms

    out.write(f"events replayed: {report.events:,}   bad lines: {len(report.bad_lines):,}\n")
    for bad in report.bad_lines[:10]:
        out.write(f"  line {bad.line}: {bad.reason}\n")
    sent = Counter(n.campaign for n in report.notifications)
    for campaign in report.campaigns:
        out.write(f"{campaign}: qualified {report.qualified[campaign]:,}, would send {sent[campaign]:,}\n")
        for (cid, reason), count in sorted(report.suppressed.items()):
            if cid == campaign:
                out.write(f"  suppressed ({reason}): {count:,}\n")
    for note in report.notifications[:show]:
        out.write(f"  {format_ms(note.at)}  {note.user}  {note.campaign}: {note.payload.get('title')!r}\n")
    if len(report.notifications) > show:
        out.write(f"  ... and {len(report.notifications) - show:,} more\n")
