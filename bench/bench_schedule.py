"""Scheduled runs and reach over stored user states, one core.

Generates N stored user states (default 1,000,000: profile, subscriptions, windowed
counters, a send history, as the runtime stores them: orjson bytes) and a scheduled
campaign with a three-condition segment, then measures:

1. a scheduled run: every stored state offered to `process_scheduled_run`, states that
   changed encoded again — (a) the baseline: decode every state into a `UserState`
   (what the runtime's writer does per `ScheduledRun` item); (b) segment first: read
   the stored JSON straight into the compiled segment and build a `UserState` only for
   users who qualify (`engine.shell.reach.qualifying`, as both runtimes' runs). Both must
   make the same sends.
2. reach: `engine.shell.reach.count_reach_raw` over the same bytes, beside the same
   count as it was before the reach work (`segment_before.py`: the baseline, in this
   run), and `reach_of_store` end to end over a real SQLite store of the states and
   their reach snapshots (`--no-store` skips writing it), alternated with reach as it
   was before the segment's byte needles (`reach_before.py`: every row parsed), for the
   three-condition segment and for one without needles (`not did Charged in 7d`: every
   row read either way); all checked against the core's `count_reach`.

3. the embedded runtime's own scheduled run end to end (`--runtime N` users, default
   100,000): `Scheduler._run` through the writer into SQLite, as `pushcast run` does it,
   as a share of the core's segment-first scan (1b) of the same users, alternated.

    .venv/bin/python bench/bench_schedule.py [--users 1000000] [--no-store] [--runtime 100000] [--repeat 3]
        [--reach-only]

On a machine too loaded for CPU seconds to compare, `--only core|runtime|setup` makes one
scheduled run over --runtime N users and nothing else, for an instruction count that load
does not change: the count of `runtime` (or `core`) less that of `setup` (the users
generated and stored, no run), e.g. each under
`valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null`.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402

from engine.core import CampaignSet, Notify, UserState  # noqa: E402
from engine.core.reach import count_reach  # noqa: E402
from engine.core.schedule import process_scheduled_run  # noqa: E402
from engine.core.state import Sent  # noqa: E402
from engine.local.reach import has_needles_sql, needle_values, open_reader, reach_of_store  # noqa: E402
from engine.shell.collector import GC_THRESHOLDS  # noqa: E402
from engine.shell.reach import count_reach_raw, encode_snapshot, needles_of, qualifying  # noqa: E402
from engine.local.store import Store  # noqa: E402
from engine.rules.loader import parse_campaign  # noqa: E402
from engine.rules.model import GlobalConfig, FrequencyLimit  # noqa: E402
from engine.windows.aggregates import record  # noqa: E402
from tests.fixtures.segments import GOLD_LAUNCHERS  # noqa: E402
from bench.reach_before import reach_before  # noqa: E402
from bench.segment_before import count_reach_raw_before  # noqa: E402

NOW = int(datetime(2026, 12, 24, 10, 0, tzinfo=timezone.utc).timestamp() * 1000)
DAY = 86_400_000
SLOT = "2026-12-24T10:00"
CAMPAIGN = """
campaign: xmas
who:
""" + GOLD_LAUNCHERS + """when:
  schedule: {at: "2026-12-24T10:00"}
  limits: {per_user: {max: 1, per: 7d}}
what:
  title: "Merry Christmas, {{ profile.name | default: 'friend' }}"
  url: https://shop.example/xmas
"""
# A segment without byte needles (`not` only): reach reads every row, as before them.
LAPSED = """
campaign: lapsed
who:
  segment: {not: {did: Charged, in_last: 7d}}
when:
  schedule: {at: "2026-12-24T10:00"}
what:
  title: "We miss you"
  url: https://shop.example/back
"""
ZONES = ["Europe/Berlin", "Asia/Kolkata", "America/New_York", "UTC", "Pacific/Auckland"]
KEYS = ["BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4", "BTBZMqHH6r4Tts7J_aSIgg"]


def generate(n: int, campaigns: CampaignSet, seed: int = 1) -> list[bytes]:
    rng = random.Random(seed)
    specs = {spec.event: spec for spec in campaigns.counters.values()}
    blobs = []
    for i in range(n):
        user = f"user-{i:07d}"
        state = UserState(user, profile={"plan": rng.choice(("gold", "platinum", "silver", "free")),
                                         "name": f"N{i}", "tz": rng.choice(ZONES), "country": rng.choice(("DE", "IN", "US"))})
        if rng.random() < 0.03:
            state.profile["test"] = True
        if rng.random() < 0.7:
            state.subscriptions[f"https://fcm.googleapis.com/fcm/send/{user}"] = list(KEYS)
        for _ in range(rng.randint(0, 5)):
            record(state.counters, specs["App Launched"], NOW - rng.randint(1, 60 * 24) * 3_600_000)
        for _ in range(rng.choice((0, 0, 0, 1, 2))):
            record(state.counters, specs["Charged"], NOW - rng.randint(1, 30 * 24) * 3_600_000)
        for _ in range(rng.choice((0, 0, 1, 2))):
            state.sent.append(Sent("other", f"m{rng.getrandbits(64):x}", NOW - rng.randint(1, 6) * DAY, 1))
        blobs.append(state.dumps())
    return blobs


def run_baseline(blobs: list[bytes], campaigns: CampaignSet) -> tuple[int, int]:
    """Every state decoded, offered to the core, and encoded again when it changed."""
    compiled = campaigns.get("xmas")
    return _count_runs((UserState.loads(blob) for blob in blobs), compiled, campaigns)


def run_segment_first(blobs: list[bytes], campaigns: CampaignSet) -> tuple[int, int]:
    """The segment read from the stored JSON; a `UserState` only for who qualifies."""
    compiled = campaigns.get("xmas")
    found = qualifying(enumerate(blobs), compiled, NOW)
    return _count_runs((UserState.from_dict(data) for _, data in found), compiled, campaigns)


def _count_runs(states, compiled, campaigns: CampaignSet) -> tuple[int, int]:
    """Offer each state to the run; (sends made, states changed and encoded again)."""
    sends = written = 0
    for state in states:
        out = process_scheduled_run(state, compiled, SLOT, NOW, campaigns)
        if out.items:
            state.dumps()
            written += 1
            sends += sum(1 for e in out.items if isinstance(e, Notify))
    return sends, written


def runtime_run(blobs: list[bytes], campaigns: CampaignSet, tmp: str, run: bool = True) -> tuple[int, float, float]:
    """The runtime's scheduled run over these states: (sends queued, seconds, CPU seconds
    of the process: the writer, its commit thread and the scheduler); `run` False makes
    everything but the run itself (`--only setup`)."""
    import asyncio

    from engine.shell.clock import ManualClock
    from engine.local.runtime import Runtime
    from engine.local.schedule import Scheduler

    store = Store.open_dir(tmp, synchronous="NORMAL")
    save_users(store, blobs)

    async def go() -> tuple[float, float]:
        runtime = Runtime(store, campaigns, secret=b"bench", clock=ManualClock(NOW))
        writer = asyncio.create_task(runtime.run_writer())
        started, cpu = time.perf_counter(), time.process_time()
        if run:
            await Scheduler(runtime)._run("xmas", SLOT, NOW)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        runtime.stop_writer()
        await writer
        return seconds, cpu

    thresholds = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLDS)  # as `pushcast run` sets them (engine/shell/collector.py)
    try:
        seconds, cpu = asyncio.run(go())
    finally:
        gc.set_threshold(*thresholds)
    queued = store.pending_count()
    store.close()
    return queued, seconds, cpu


def save_users(store: Store, blobs: list[bytes]) -> None:
    """Store the states and their reach snapshots, as the runtime's writer does."""
    with store.batch() as batch:
        batch.save_states([(data["u"], blob, None, encode_snapshot(data))
                           for blob, data in zip(blobs, map(orjson.loads, blobs))])


def store_reach(db_path: Path, campaigns: CampaignSet, name: str, blobs: list[bytes], args) -> None:
    """`reach_of_store` against reach as it was (`reach_before.py`), alternated, best of
    --repeat each, both checked against the core's count."""
    compiled = campaigns.get(name)
    core = count_reach((UserState.loads(b) for b in blobs), compiled, NOW, campaigns)
    before_s, store_s, before_cpu, store_cpu = [], [], [], []
    for _ in range(args.repeat):  # alternated: as it was, then as it is
        found, seconds, cpu = timed(f"{name}: before: every row parsed", lambda: reach_before(db_path, compiled, NOW, campaigns),
                                    args.users)
        before_s.append(seconds)
        before_cpu.append(cpu)
        assert (found.qualified, found.reachable) == core
        old = found
        found, seconds, cpu = timed(f"{name}: reach_of_store", lambda: reach_of_store(db_path, compiled, NOW, campaigns),
                                    args.users)
        store_s.append(seconds)
        store_cpu.append(cpu)
        assert (found.qualified, found.reachable) == core
        assert found.to_dict() | {"seconds": 0} == old.to_dict() | {"seconds": 0}
    print(f"  {name}: qualified {found.qualified:,}, reachable {found.reachable:,} of {found.users:,}: best "
          f"{min(store_s):.2f} s end to end ({min(store_cpu):.2f} s CPU; CPU {min(store_cpu):.2f}-{max(store_cpu):.2f}), "
          f"x{min(store_s) / min(before_s):.2f} (CPU x{min(store_cpu) / min(before_cpu):.2f}) of reach as it was: "
          f"{min(before_s):.2f} s ({min(before_cpu):.2f} s CPU; CPU {min(before_cpu):.2f}-{max(before_cpu):.2f}) "
          f"(target: 2 s at 1,000,000 users)")


def timed(label: str, fn, n: int):
    started, cpu = time.perf_counter(), time.process_time()
    result = fn()
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu
    shown = (result.qualified, result.reachable) if hasattr(result, "qualified") else result
    print(f"  {label:<48} {seconds:7.2f} s ({cpu:5.2f} s CPU)   {n / seconds:>11,.0f} users/s   -> {shown}")
    return result, seconds, cpu


def only(part: str, blobs: list[bytes], campaigns: CampaignSet) -> int:
    """One run of `part` and nothing else: its sends, CPU seconds (`--only`). Every part
    stores the users first, so that `setup` is what each part does besides its run."""
    with tempfile.TemporaryDirectory() as tmp:
        sends, _, cpu = runtime_run(blobs, campaigns, tmp, run=part == "runtime")
    if part == "core":
        cpu = time.process_time()
        sends, _ = run_segment_first(blobs, campaigns)
        cpu = time.process_time() - cpu
    print(f"  {part}: {len(blobs):,} users, {sends:,} sends, {cpu:.2f} s CPU")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--no-store", action="store_true", help="skip the SQLite end-to-end reach")
    parser.add_argument("--repeat", type=int, default=3, help="reach measures alternated this many times")
    parser.add_argument("--runtime", type=int, default=100_000, metavar="N",
                        help="users in the runtime's end-to-end scheduled run (0: skip)")
    parser.add_argument("--reach-only", action="store_true", help="measure reach only (skip 1 and 3)")
    parser.add_argument("--only", choices=("core", "runtime", "setup"),
                        help="one scheduled run over --runtime users and nothing else (for instruction counts)")
    args = parser.parse_args()
    config = GlobalConfig(limits=(FrequencyLimit(3, 86400),), test_users=("user-0000007",))
    campaigns = CampaignSet([parse_campaign(CAMPAIGN), parse_campaign(LAPSED)], config)
    compiled = campaigns.get("xmas")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; one core used")
    started = time.perf_counter()
    blobs = generate(args.users, campaigns)
    size = sum(map(len, blobs)) / len(blobs)
    print(f"generated {args.users:,} user states in {time.perf_counter() - started:.1f} s (mean {size:.0f} bytes stored)")
    if args.only:
        return only(args.only, blobs[:args.runtime], campaigns)

    if not args.reach_only:
        print("scheduled run (segment: profile in [gold, platinum], did App Launched >= 2 in 30d, not did Charged in 7d):")
        base, base_s, _ = timed("baseline: decode every UserState", lambda: run_baseline(blobs, campaigns), args.users)
        fast, fast_s, _ = timed("segment first on the stored JSON", lambda: run_segment_first(blobs, campaigns), args.users)
        assert base == fast, f"different decisions: {base} != {fast}"
        print(f"  speed-up x{base_s / fast_s:.1f}; {fast[0]:,} sends decided")

    print("reach:")
    core, _, _ = timed("core count_reach over UserStates",
                    lambda: count_reach((UserState.loads(b) for b in blobs), compiled, NOW, campaigns), args.users)
    # Alternated, best of --repeat each: the machine is shared, and a slow moment should
    # not fall on one side only.
    before_s, raw_s = [], []
    for _ in range(args.repeat):
        before, seconds, _ = timed("baseline: count_reach_raw before (segment_before)",
                                lambda: count_reach_raw_before(blobs, compiled, NOW, campaigns), args.users)
        before_s.append(seconds)
        raw, seconds, _ = timed("count_reach_raw over the stored bytes",
                             lambda: (lambda r: (r.qualified, r.reachable))(count_reach_raw(blobs, compiled, NOW, campaigns)),
                             args.users)
        raw_s.append(seconds)
        assert core == raw == before, f"different reach: {core} != {raw} != {before}"
    print(f"  in memory, best of {args.repeat}: {min(raw_s):.2f} s, x{min(raw_s) / min(before_s):.2f} of the "
          f"baseline's {min(before_s):.2f} s")
    if not args.no_store:
        with tempfile.TemporaryDirectory() as tmp:
            store = Store.open_dir(tmp, synchronous="OFF")
            started = time.perf_counter()
            save_users(store, blobs)
            store.close()
            db_path = Path(tmp) / "pushcast.db"
            db = open_reader(db_path)
            states_mb, snaps_mb = db.execute("SELECT sum(length(state)) / 1e6, sum(length(snap)) / 1e6 FROM users").fetchone()
            db.close()
            print(f"  (wrote the SQLite store in {time.perf_counter() - started:.1f} s, {db_path.stat().st_size / 1e6:.0f}"
                  f" MB; stored states {states_mb:.0f} MB, snapshots {snaps_mb:.0f} MB)")
            db = open_reader(db_path)
            needles = needles_of(compiled.campaign.segment)
            passed = db.execute(f"SELECT count(*) FROM users WHERE {has_needles_sql(needles, 'snap')}",
                                needle_values(needles)).fetchone()[0]
            db.close()
            print(f"  the segment's needles {needles}: {passed:,} of {args.users:,} rows handed to Python "
                  f"({passed / args.users:.0%})")
            for name in ("xmas", "lapsed"):
                store_reach(db_path, campaigns, name, blobs, args)
    if args.runtime and not args.reach_only:
        n = min(args.runtime, len(blobs))
        core_s, run_s, core_cpu, run_cpu = [], [], [], []
        for _ in range(args.repeat):  # alternated with the core's scan of the same users
            _, seconds, cpu = timed(f"core segment-first scan, {n:,} users", lambda: run_segment_first(blobs[:n], campaigns), n)
            core_cpu.append(cpu)
            core_s.append(seconds)
            with tempfile.TemporaryDirectory() as tmp:
                queued, seconds, cpu = runtime_run(blobs[:n], campaigns, tmp)
            run_s.append(seconds)
            run_cpu.append(cpu)
            print(f"  runtime scheduled run (Scheduler -> writer -> SQLite) {seconds:7.2f} s ({cpu:5.2f} s CPU)   "
                  f"{n / seconds:>11,.0f} users/s   -> {queued:,} sends queued")
        print(f"  best of {args.repeat}: {n / min(run_s):,.0f} users/s, x{min(core_s) / min(run_s):.2f} of the core's "
              f"segment-first scan ({n / min(core_s):,.0f} users/s; target x0.8); in CPU seconds "
              f"x{min(core_cpu) / min(run_cpu):.2f} ({min(run_cpu):.2f} s against {min(core_cpu):.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
