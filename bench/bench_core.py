"""Core throughput: events/s through the core entry point, beside the obvious baseline.

Loads the example campaigns plus 50 generated ones, generates a stream for 100,000
users, and runs it (1) through the core with its windowed aggregates and (2) through
the same core with every segment answered by re-scanning the user's raw event list
(what one writes first). Both make the same decisions (checked). Also reports the
serialized state size per user. Each step's decisions go to the user's decision log
(engine.core.decisions, as engine.shell.step.apply does); `--decision-log 0` measures
without it (the state size before the log existed).

    .venv/bin/python bench/bench_core.py [--users 100000] [--events 1000000] [--decision-log N]
    .venv/bin/python bench/bench_core.py --floor-only [--rounds 3]
    .venv/bin/python bench/bench_core.py --floor-only --baseline GIT_REF [--rounds 3]

First (or only, with --floor-only) the core runs the example campaigns of campaigns.d
beside core_floor.py, the same rules hand-coded as one plain loop: the decisions are
asserted identical and the CPU time per event of each is printed, with the ratio.
`--baseline GIT_REF` runs that comparison (best of 3) for the code at GIT_REF (`git archive`)
and for this tree, alternately `--rounds` times, each in a fresh process: before/after
from one invocation.
"""

from __future__ import annotations

import argparse
import gc
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from engine.core import CampaignSet, Event, Notify, Qualified, Suppressed, UserState  # noqa: E402
from engine.core.decisions import remember  # noqa: E402
from engine.core.effects import Wake  # noqa: E402
from engine.core.process import process_event, process_wake  # noqa: E402
from engine.rules.config import load_config  # noqa: E402
from engine.rules.loader import load_campaigns  # noqa: E402
from engine.rules.model import All, Any_, Did, Not  # noqa: E402
from engine.rules.predicates import compile_filter  # noqa: E402
from engine.shell.collector import tune_collector  # noqa: E402
from engine.windows.aggregates import compare  # noqa: E402

from core_floor import Floor  # noqa: E402

T0 = 1_764_064_800_000  # 2025-11-25T10:00Z
EVENTS = ["Product Viewed", "Added To Cart", "Charged", "Session Started", "Searched",
          "Wishlist Price Dropped", "Flight Booked"] + [f"Event {i}" for i in range(20)]
WEIGHTS = [34, 8, 3, 20, 22, 2, 1] + [0.5] * 20  # most events trigger nothing, as on a real site


def generated_campaign(i: int) -> str:
    """One of 50 varied live campaigns over the generated events."""
    trigger = EVENTS[7 + i % 20]
    segment = [
        f"{{did: Product Viewed, at_least: {1 + i % 3}, in_last: {7 + i % 23}d, where: {{category: c{i % 5}}}}}",
        f"{{not: {{did: Charged, in_last: {1 + i % 7}d}}}}",
        "{profile: {plan: {in: [free, pro]}}}",
    ]
    unless = f"unless: {{event: Event {(i + 1) % 20}, within: {5 + i % 30}m}}" if i % 3 == 0 else ""
    return f"""
campaign: gen-{i}
name: generated {i}
who:
  on: {{event: {trigger}, where: {{value: {{gte: {i % 10}}}}}}}
  {unless}
  segment: {{all: [{", ".join(segment[: 1 + i % 3])}]}}
when:
  delay: {(i % 4) * 5}m
  limits: {{per_user: {{max: 1, per: 1d}}}}
what:
  title: "Offer {i} for {{{{ profile.name | default: 'you' }}}}"
  url: "https://shop.example/o/{i}?v={{{{ event.value | default: 0 }}}}"
"""


def load_set() -> CampaignSet:
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(50):
            Path(tmp, f"gen-{i}.yaml").write_text(generated_campaign(i))
        campaigns = load_campaigns([ROOT / "campaigns.d", Path(tmp)])
    return CampaignSet(campaigns, load_config(ROOT / "pushcast.yaml"))


def generate_stream(users: int, events: int, seed: int = 7) -> list[Event]:
    rng = random.Random(seed)
    names = rng.choices(EVENTS, WEIGHTS, k=events)
    stream: list[Event] = []
    ts = T0
    for u in range(users):  # everyone starts with a profile; 60% subscribe
        user = f"user-{u}"
        stream.append(Event(user, "$profile", ts, {"name": f"N{u}", "plan": rng.choice(["free", "pro", "gold"]),
                                                    "tz": rng.choice(["UTC", "Europe/Berlin", "Asia/Kolkata", "America/New_York"])}))
        if rng.random() < 0.6:
            stream.append(Event(user, "$push_subscribe", ts, {"endpoint": f"https://fcm.googleapis.com/fcm/send/{u}",
                                                               "keys": {"p256dh": "B" * 87, "auth": "A" * 22}}))
    span_ms = 30 * 86_400_000
    step = span_ms // max(events, 1)
    for i, name in enumerate(names):
        ts += step
        # Mostly spread over everyone, a fifth from a busy tenth of the users.
        user = f"user-{rng.randrange(users // 10) if rng.random() < 0.2 else rng.randrange(users)}"
        props = {"category": f"c{rng.randrange(5)}", "value": rng.randrange(20), "cart_id": f"c{rng.randrange(3)}",
                 "product": "Shoes", "price": 20, "product_id": f"p{rng.randrange(50)}"}
        # What the example price-drop and flight-reminder campaigns read, derived from
        # the values above (no more draws, so the rest of the stream stays as it was).
        if name == "Wishlist Price Dropped":
            props["drop_percent"] = props["value"] * 2
        elif name == "Flight Booked":
            departure = time.gmtime(ts // 1000 + (props["value"] % 10) * 86_400)
            props.update(departure=time.strftime("%Y-%m-%d", departure), destination="Lisbon",
                         booking_ref=f"B{i}")
        stream.append(Event(user, name, ts, props))
    return stream


@dataclass
class Decided:
    """What a run decided, in the floor's terms."""

    sends: list = field(default_factory=list)  # (user, campaign, at, message id, payload, ttl, urgency)
    suppressed: list = field(default_factory=list)  # (user, campaign, at, reason)


def run(campaigns: CampaignSet, stream: list[Event], before_event=None,
        decided: Decided | None = None) -> tuple[float, dict, dict]:
    """Process the stream with timers firing in time order; returns (seconds, states,
    decision counts). `decided`: also collect every send and suppression (as the floor does)."""
    import heapq
    states: dict[str, UserState] = {}
    timers: list = []
    counts = {"notify": 0, "qualified": 0, "suppressed": 0}

    keep = campaigns.config.decision_log
    sends, suppressed = (decided.sends, decided.suppressed) if decided is not None else (None, None)

    def apply(effects, state) -> None:
        if keep or state.decisions:
            remember(state, effects, keep)
        for e in effects.items:
            kind = type(e)
            if kind is Wake:
                heapq.heappush(timers, (e.at, e.user))
            elif kind is Notify:
                counts["notify"] += 1
                if sends is not None:
                    sends.append((e.user, e.campaign, e.at, e.message_id, e.payload, e.ttl, e.urgency))
            elif kind is Qualified:
                counts["qualified"] += 1
            elif kind is Suppressed:
                counts["suppressed"] += 1
                if suppressed is not None:
                    suppressed.append((e.user, e.campaign, e.at, e.reason))

    start = time.process_time() if decided is not None else time.perf_counter()
    for event in stream:
        while timers and timers[0][0] <= event.ts:
            due, user = heapq.heappop(timers)
            state = states[user]
            if state.next_due == due:
                apply(process_wake(state, due, campaigns), state)
        state = states.get(event.user)
        if state is None:
            state = states[event.user] = UserState(event.user)
        apply(process_event(state, event, campaigns), state)
        if before_event is not None:
            before_event(state, event)
    end = time.process_time() if decided is not None else time.perf_counter()
    return end - start, states, counts


def rescan_set(campaigns: CampaignSet) -> CampaignSet:
    """The baseline: the same campaigns, with segments that scan the raw event list."""
    baseline = CampaignSet(campaigns.campaigns, campaigns.config)
    baseline.counters_by_event.clear()
    for compiled in baseline.by_id.values():
        compiled.segment = scan_segment(compiled.campaign.segment)
    return baseline


def scan_segment(segment):
    from engine.rules.model import ProfileMatch
    if segment is None:
        return lambda profile, raw, now: True
    if isinstance(segment, ProfileMatch):
        matches = compile_filter(segment.filter)
        return lambda profile, raw, now: matches(profile)
    if isinstance(segment, Did):
        matches = compile_filter(segment.where)

        def did(profile, counters, now, d=segment):
            n = 0
            for name, ts, props in counters.get("raw", ()):
                if name != d.event or not matches(props):
                    continue
                if d.between is not None:
                    n += d.between[0] <= ts < d.between[1]
                else:
                    n += now - d.in_last * 1000 < ts <= now
            return compare(d.count_op, n, d.count)
        return did
    if isinstance(segment, (All, Any_)):
        items = [scan_segment(s) for s in segment.items]
        combine = all if isinstance(segment, All) else any
        return lambda profile, raw, now: combine(f(profile, raw, now) for f in items)
    if isinstance(segment, Not):
        inner = scan_segment(segment.item)
        return lambda profile, raw, now: not inner(profile, raw, now)
    raise TypeError(segment)


def append_raw(state: UserState, event: Event) -> None:
    if not event.name.startswith("$"):
        state.counters.setdefault("raw", []).append((event.name, event.ts, event.props))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--decision-log", type=int, default=None,
                        help="decisions kept per user (default: pushcast.yaml's, 20 unless set)")
    parser.add_argument("--floor-only", action="store_true",
                        help="only the example campaigns against the hand-coded floor (core_floor.py)")
    parser.add_argument("--rounds", type=int, default=3, help="floor comparison: alternating runs, best kept")
    parser.add_argument("--gc", choices=("runtime", "python"), default="python",
                        help="cycle-collector thresholds: the runtimes' (engine/shell/collector.py) or Python's default")
    parser.add_argument("--baseline", metavar="GIT_REF",
                        help="--floor-only for the code at GIT_REF and for this tree, alternated, each in its own process")
    args = parser.parse_args()
    if args.baseline:
        return compare_with_baseline(args)
    if args.gc == "runtime":
        tune_collector()
    print(f"cycle collector thresholds {gc.get_threshold()} ({args.gc})")
    print(f"[floor] example campaigns, {args.users:,} users, {args.events:,} events")
    compare_floor(generate_stream(args.users, args.events), args.rounds,
                  args.decision_log if args.decision_log is not None else load_config(ROOT / "pushcast.yaml").decision_log)
    if args.floor_only:
        return
    campaigns = load_set()
    if args.decision_log is not None:
        campaigns = CampaignSet(campaigns.campaigns, replace(campaigns.config, decision_log=args.decision_log))
    print(f"decision log: {campaigns.config.decision_log} per user")
    # Wide: many users with short histories (the stream). Deep: fewer users with
    # a month of history each, where re-scanning raw lists shows its real cost.
    for label, users, events in (("wide", args.users, args.events), ("deep", args.users // 10, args.events)):
        print(f"\n[{label}] {len(campaigns.by_id)} campaigns, {users:,} users, {events:,} events "
              f"(+ profiles and subscriptions)")
        compare_runs(campaigns, generate_stream(users, events))


def compare_floor(stream: list[Event], rounds: int, keep: int) -> None:
    """The core on the example campaigns against the hand-coded floor (core_floor.py):
    the same decisions, asserted; CPU µs per event, the best of `rounds` alternating runs."""
    config = load_config(ROOT / "pushcast.yaml")
    examples = load_campaigns([ROOT / "campaigns.d"])
    variants = {"core": CampaignSet(examples, replace(config, decision_log=0)),
                f"core + log {keep}": CampaignSet(examples, replace(config, decision_log=keep))}
    best: dict[str, float] = {}
    collecting: dict[str, float] = {}  # the garbage collector's share, lowest of the rounds
    for _ in range(rounds):
        floor = Floor()
        start = time.process_time()
        floor.run(stream)
        best["floor"] = min(best.get("floor", 1e9), time.process_time() - start)
        for label, campaigns in variants.items():
            decided = Decided()
            with GcClock() as gc_clock:
                seconds, _, counts = run(campaigns, stream, decided=decided)
            best[label] = min(best.get(label, 1e9), seconds)
            collecting[label] = min(collecting.get(label, 1e9), gc_clock.seconds)
            assert decided.sends == floor.sends, first_difference(decided.sends, floor.sends)
            assert decided.suppressed == floor.suppressed, first_difference(decided.suppressed, floor.suppressed)
            assert counts["qualified"] == floor.qualified, (counts["qualified"], floor.qualified)
    reasons: dict[str, int] = {}
    for row in floor.suppressed:
        reasons[row[3]] = reasons.get(row[3], 0) + 1
    by_campaign: dict[str, int] = {}
    for row in floor.sends:
        by_campaign[row[1]] = by_campaign.get(row[1], 0) + 1
    print(f"same decisions: {floor.qualified:,} qualified; sends {by_campaign}; suppressed {reasons}")
    per_event = {label: seconds / len(stream) * 1e6 for label, seconds in best.items()}
    print(f"floor:            {per_event['floor']:6.2f} µs/event (CPU, best of {rounds})")
    for label in variants:
        print(f"{label + ':':17} {per_event[label]:6.2f} µs/event   core/floor {per_event[label] / per_event['floor']:.2f}x"
              f"   of which garbage collection {collecting[label] / len(stream) * 1e6:.2f} µs")


class GcClock:
    """CPU seconds the garbage collector spends inside the `with` block (gc.callbacks): a
    figure the machine's other load moves far less than a whole run's."""

    def __enter__(self) -> "GcClock":
        self.seconds, self._started = 0.0, 0.0
        gc.callbacks.append(self._tick)
        return self

    def __exit__(self, *exc) -> None:
        gc.callbacks.remove(self._tick)

    def _tick(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.process_time()
        else:
            self.seconds += time.process_time() - self._started


_FIGURE = re.compile(r"^(floor|core|core \+ log \d+):\s+([\d.]+) µs/event", re.MULTILINE)


def compare_with_baseline(args: argparse.Namespace) -> None:
    """`--floor-only` (best of 3) for the code at `args.baseline` and for this tree,
    alternated `args.rounds` times (which goes first alternates too), each in a fresh
    process; prints every run's figures and the median ratios."""
    from bench_runtime import export_tree  # the same export as the runtime bench's --baseline
    # best of 3 within each process, as without --baseline
    options = ["--floor-only", "--rounds", "3", "--users", str(args.users), "--events", str(args.events),
               "--gc", args.gc] + (["--decision-log", str(args.decision_log)] if args.decision_log is not None else [])
    with tempfile.TemporaryDirectory() as work:
        trees = [(f"before ({args.baseline})", export_tree(args.baseline, Path(work) / "baseline")), ("after", ROOT)]
        ratios: dict[str, dict[str, list[float]]] = {label: {} for label, _ in trees}
        for n in range(args.rounds):
            for label, tree in trees if n % 2 == 0 else trees[::-1]:
                output = subprocess.run([sys.executable, str(tree / "bench" / "bench_core.py"), *options],
                                        capture_output=True, text=True, check=True).stdout
                figures = dict(_FIGURE.findall(output))
                floor = float(figures.pop("floor"))
                shown = "   ".join(f"{name} {float(value):.2f} ({float(value) / floor:.2f}x)" for name, value in figures.items())
                print(f"round {n + 1} {label:>22}: floor {floor:.2f} µs/event   {shown}", flush=True)
                for name, value in figures.items():
                    ratios[label].setdefault(name, []).append(float(value) / floor)
    for label, by_name in ratios.items():
        print(f"median {label:>22}: " + "   ".join(f"{name}/floor {statistics.median(r):.2f}x" for name, r in by_name.items()))


def first_difference(core: list, floor: list) -> str:
    for i, (a, b) in enumerate(zip(core, floor)):
        if a != b:
            return f"row {i}: core {a} / floor {b}"
    return f"lengths: core {len(core)} / floor {len(floor)}"


def compare_runs(campaigns: CampaignSet, stream: list[Event]) -> None:

    core_s, states, core_counts = run(campaigns, stream)
    base_s, _, base_counts = run(rescan_set(campaigns), stream, before_event=append_raw)
    assert core_counts == base_counts, (core_counts, base_counts)

    sizes = sorted(len(s.dumps()) for s in states.values())
    core_rate, base_rate = len(stream) / core_s, len(stream) / base_s
    print(f"decisions (same in both): {core_counts}")
    print(f"core:     {core_rate:12,.0f} events/s  ({core_s:.2f} s)")
    print(f"baseline: {base_rate:12,.0f} events/s  ({base_s:.2f} s)  re-scanning raw event lists")
    print(f"ratio:    {core_rate / base_rate:12.1f} x")
    print(f"state per user (serialized): mean {statistics.mean(sizes):.0f} B, "
          f"p99 {sizes[int(len(sizes) * 0.99)]} B, max {sizes[-1]} B")


if __name__ == "__main__":
    main()
