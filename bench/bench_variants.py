"""What A/B variants cost the core, and what a winner judgement costs the shell.

1. Decisions: N users (default 100,000), each subscribed, each triggering one live
   campaign that sends at once, through `process_event`. The baseline is the campaign
   with one message; the variant run is the same campaign with three variants and a
   control (the stable draw, the variant's message, the control's held-out entry). Both
   runs are timed in this process, alternately, best of `--rounds`; the ratio is what
   variants cost per decision. The draw's split is checked against the weights.
2. Judgement: `engine.shell.winners.probabilities_best` for 2, 3 and 4 variants with
   100,000 sends each (the fixed 4,000-point integration), against the floor of
   reading the stats (`figures`) for the same campaign.

    .venv/bin/python bench/bench_variants.py [--users 100000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.core import CampaignSet, Event, Notify, Suppressed, UserState  # noqa: E402
from engine.core.process import process_event  # noqa: E402
from engine.rules.loader import parse_campaign  # noqa: E402
from engine.shell.winners import figures, probabilities_best  # noqa: E402

BASE = """
campaign: bench
who: {on: {event: Viewed}}
when: {limits: {ignore_global: true}}
what:
  title: "Hello {{ profile.name | default: 'you' }}"
  body: "Still thinking about {{ event.product }}?"
  url: https://shop.example/
"""
VARIANTS = BASE + """
  variants:
    - {name: a, weight: 2}
    - {name: b, title: "{{ event.product }} is almost gone"}
    - {name: c, body: Free shipping today}
  control: {weight: 1}
"""
SUB = {"endpoint": "https://fcm.googleapis.com/fcm/send/x", "keys": {"p256dh": "BCVx", "auth": "BTBZ"}}
T0 = 1_800_000_000_000


def decide_all(campaigns: CampaignSet, users: int) -> tuple[float, Counter]:
    states = [UserState(f"user-{i}") for i in range(users)]
    for state in states:
        process_event(state, Event(state.user, "$push_subscribe", T0, SUB), campaigns)
    outcome: Counter = Counter()
    started = time.perf_counter()
    for i, state in enumerate(states):
        for effect in process_event(state, Event(state.user, "Viewed", T0 + i, {"product": "Boots"}), campaigns).items:
            if isinstance(effect, Notify):
                outcome[effect.variant or "sent"] += 1
            elif isinstance(effect, Suppressed):
                outcome[effect.reason] += 1
    return time.perf_counter() - started, outcome


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    plain, ab = CampaignSet([parse_campaign(BASE)]), CampaignSet([parse_campaign(VARIANTS)])
    best = {"plain": float("inf"), "variants": float("inf")}
    for _ in range(args.rounds):
        for name, campaigns in (("plain", plain), ("variants", ab)):
            seconds, outcome = decide_all(campaigns, args.users)
            best[name] = min(best[name], seconds)
            if name == "variants":
                split = outcome
    n = args.users
    print(f"decisions, {n:,} users, best of {args.rounds}:")
    print(f"  one message      {n / best['plain']:>10,.0f} decisions/s")
    print(f"  3 variants+ctrl  {n / best['variants']:>10,.0f} decisions/s   "
          f"ratio {best['variants'] / best['plain']:.2f}x the time")
    shares = {k: round(v / n, 3) for k, v in sorted(split.items())}
    print(f"  split (weights a 2, b 1, c 1, control 1 -> .4 .2 .2 .2): {shares}")
    campaign = parse_campaign(VARIANTS.replace("  control: {weight: 1}\n", "") +
                              "  winner: {metric: clicks, min_sends: 1000}\n")
    stats = {f"variant.{v}.{s}": 100_000 if s == "sent" else 5_000 + i * 40
             for i, v in enumerate("abcd") for s in ("sent", "clicked")}
    floor_started = time.perf_counter()
    for _ in range(1000):
        figures(campaign, stats)
    floor = (time.perf_counter() - floor_started) / 1000
    print("winner judgement (100,000 sends a variant):")
    for arms in (2, 3, 4):
        data = [(100_000, 5_000 + i * 40) for i in range(arms)]
        started = time.perf_counter()
        chances = probabilities_best(data)
        took = time.perf_counter() - started
        print(f"  {arms} variants: {took * 1000:7.1f} ms ({took / floor:,.0f}x reading the stats), "
              f"P(best) {[round(c, 4) for c in chances]}")


if __name__ == "__main__":
    main()
