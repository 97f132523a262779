"""Campaign stats over Kafka equal a brute-force count after kill -9 and a worker joining.

The crash tests' stream (10,000 users, tests/fixtures/crash_stream.py): w1 is killed
mid-stream and restarted, a third worker joins while the waits fire and the sends go
out, w2 is killed while results come back (the sender reports again what Redis says was
done), then browsers report shows and clicks (each twice) and some users buy. The stats
that `pushcast stats --kafka` and the worker API answer must equal, key by key, what the
simulated clock decided, what the push emulator received, and the reports made.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections import Counter

import pytest

from engine.agents.records import decode_sends, result_events
from engine.core import Notify, Qualified, Suppressed
from tests.fixtures.crash_stream import ADMIN_TOKEN, ALL_DUE, ROOT, START
from tests.fixtures.kafka_runtime import metric_value

pytestmark = pytest.mark.integration

EXPIRED = 19  # the subscription the emulator expires: its sends fail (410) and unsubscribe
BOUGHT = ALL_DUE + 60_000  # within a day of every delivery: the conversion window


def _stats(harness, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine.cli", "stats", *args, "--kafka", harness.bootstrap,
                           "--topic-prefix", harness.prefix, "--timeout", "30"],
                          cwd=ROOT, capture_output=True, text=True, timeout=90)


def _stats_json(harness) -> dict[str, dict]:
    done = _stats(harness, "--json")
    assert done.returncode == 0, done.stderr + harness.logs()
    return {row["campaign"]: row for row in json.loads(done.stdout)}


def _until(predicate, what: str, harness, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        harness.check_alive()
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout}s\n{harness.logs()}"
        time.sleep(0.1)


def _consumed(worker) -> float:
    try:
        return metric_value(worker.metrics(), "pushcast_events_consumed_total")
    except OSError:  # not serving metrics yet
        return 0


def _decided(sim) -> dict[str, dict]:
    """Per campaign, by hand from the simulated clock's effects: qualified, suppressed by
    reason, messages sent."""
    out: dict[str, dict] = {}
    for effect in sim.effects:
        row = out.setdefault(effect.campaign, {"qualified": 0, "sent": 0, "suppressed": Counter()})
        if isinstance(effect, Qualified):
            row["qualified"] += 1
        elif isinstance(effect, Suppressed):
            row["suppressed"][effect.reason] += 1
        elif isinstance(effect, Notify):
            row["sent"] += 1
    return out


def _received(push_emulator, subs) -> set[tuple[str, str]]:
    """Distinct (message, subscription) pairs the emulator got (the expired one gets none)."""
    pairs = set()
    for sub in subs[:EXPIRED] + subs[EXPIRED + 1:]:
        for text in push_emulator.notifications(sub["clientHash"]):
            pairs.add((json.loads(text)["message"], sub["endpoint"]))
    return pairs


def _results(harness) -> tuple[dict[tuple[str, str], str], set[tuple[str, str]]]:
    """The sender's result events in the events topic: the first final answer per
    (message, subscription), and the pairs it unsubscribed."""
    outcomes, unsubscribed = {}, set()
    events = [e for record in harness.read(harness.events_topic) for e in result_events(record.value, record.headers)]
    for event in events:
        props = event.get("props", {})
        pair = (props.get("message"), props.get("endpoint"))
        if event["event"] in ("$notification_sent", "$notification_failed"):
            outcomes.setdefault(pair, event["event"])
        elif event["event"] == "$push_unsubscribe" and pair[0]:
            unsubscribed.add(pair)
    return outcomes, unsubscribed


def _where_results_are_missing(harness, expected_pairs) -> str:
    """Which sends records hold the sends that have no result (a CI failure says where)."""
    missing = expected_pairs - set(_results(harness)[0])
    held: Counter[tuple[int, int]] = Counter()
    for record in harness.read(harness.sends_topic):
        for notify, _partition in decode_sends(record.value)[0]:
            held[record.partition, record.offset] += sum(
                (notify.message_id, sub.endpoint) in missing for sub in notify.subscriptions)
    found = {where: n for where, n in held.items() if n}
    return (f"{len(missing)} of {len(expected_pairs)} sends have no result; sends records holding them "
            f"(partition, offset): count {sorted(found.items())[:20]}; in no sends record: "
            f"{len(missing) - sum(found.values())}; lag {harness.lag_by_partition()}")


def test_stats_equal_a_brute_force_count_across_kill_9_and_a_joining_worker(
        kafka_runtime_factory, push_emulator, crash_stream):
    sim, subs = crash_stream.simulation, crash_stream.subs
    notifies = sim.notifications
    campaign_of = {n.message_id: n.campaign for n in notifies}
    expired = subs[EXPIRED]["endpoint"]
    push_emulator.expire(subs[EXPIRED]["clientHash"])

    harness = kafka_runtime_factory(crash_stream.campaign_files, crash_stream.config, partitions=6,
                                    sends_partitions=3)
    harness.set_clock(START)
    w1 = harness.start_worker("w1", dry_run=False, commit_interval=30)
    w2 = harness.start_worker("w2", dry_run=False, commit_interval=5)
    harness.wait_members(2)

    harness.produce(crash_stream.events)
    _until(lambda: _consumed(w1) > 0, "w1 applying records", harness)
    assert harness.lag() > 0, "the stream was already done: the kill would not be mid-stream"
    w1.kill()
    harness.start_worker("w1-restarted", dry_run=False, data_of="w1")
    harness.wait_members(2)
    harness.wait_idle(timeout=120)

    # Every wait fires now: decisions, sends and their results move the stats. A third
    # worker joins meanwhile and w2 dies while results come back.
    harness.set_clock(ALL_DUE)
    w3 = harness.start_worker("w3", dry_run=False, api=True)
    _until(lambda: len(_received(push_emulator, subs)) > 500, "the first deliveries", harness)
    w2.kill()
    assert len(_received(push_emulator, subs)) < 14_000, "w2 died after the sends were done"
    harness.start_worker("w2-restarted", dry_run=False, data_of="w2")
    harness.wait_members(3)
    harness.wait_idle(timeout=400)

    decided = _decided(sim)
    expected_pairs = set(crash_stream.expected_pairs())
    try:
        _until(lambda: set(_results(harness)[0]) >= expected_pairs, "a final result for every send", harness, timeout=300)
    except AssertionError as exc:
        raise AssertionError(f"{_where_results_are_missing(harness, expected_pairs)}\n{exc}") from None
    harness.wait_idle(timeout=60)
    outcomes, unsubscribed = _results(harness)
    received = _received(push_emulator, subs)
    # The brute force: the sender's results in the events topic, first answer per
    # (message, subscription), against what the emulator got and what was expired.
    assert set(outcomes) == expected_pairs
    assert {pair for pair, outcome in outcomes.items() if outcome == "$notification_sent"} == received
    assert {pair for pair in expected_pairs if pair[1] == expired} <= unsubscribed
    delivered = Counter(campaign_of[m] for (m, _), o in outcomes.items() if o == "$notification_sent")
    failed = Counter(campaign_of[m] for (m, _), o in outcomes.items() if o == "$notification_failed")
    stats = _stats_json(harness)
    assert set(stats) == set(decided) == {"welcome", "abandoned-cart"}
    for campaign, row in decided.items():
        found = stats[campaign]
        assert (found["qualified"], found["sent"], found["suppressed"]) == (
            row["qualified"], row["sent"], dict(row["suppressed"])), campaign
        assert (found["delivered"], found["failed"], found["unsubscribed"]) == (
            delivered[campaign], failed[campaign], Counter(campaign_of[m] for m, _ in unsubscribed)[campaign]), campaign
    assert stats["welcome"]["sent"] == 10_000 and stats["welcome"]["failed"] >= 500

    # Browsers report: every third delivered message shown, every fifth clicked, each
    # twice; every other reminded user buys (a click-through or a view-through).
    reached = {m for (m, _), o in outcomes.items() if o == "$notification_sent"}
    reports, shown, clicked, conversions = [], Counter(), Counter(), Counter()
    for i, n in enumerate(n for n in notifies if n.message_id in reached):
        for kind, every, counter in (("shown", 3, shown), ("clicked", 5, clicked)):
            if i % every == 0:
                counter[n.campaign] += 1
                reports += [{"user": n.user, "event": f"$notification_{kind}", "ts": ALL_DUE + 1000,
                             "props": {"message": n.message_id, "campaign": n.campaign, "action": ""}}] * 2
        if n.campaign == "abandoned-cart" and i % 2 == 1:
            conversions["click" if i % 5 == 0 else "view"] += 1
            reports.append({"user": n.user, "event": "Charged", "ts": BOUGHT,
                            "props": {"cart_id": "c" + n.user.split("-")[1], "amount": 7.5}})
    harness.produce(reports)
    harness.wait_idle(timeout=120)
    stats = _stats_json(harness)
    for campaign in decided:
        assert (stats[campaign]["shown"], stats[campaign]["clicked"]) == (shown[campaign], clicked[campaign])
    cart = stats["abandoned-cart"]
    assert cart["conversions"] == {"click": conversions["click"], "view": conversions["view"]}
    assert cart["revenue"] == 7.5 * sum(conversions.values()) and conversions["view"] > 0
    assert stats["welcome"]["conversions"] == {"click": 0, "view": 0}

    # The same figures as a table, for one campaign, and from the worker API.
    table = _stats(harness, "welcome")
    assert table.returncode == 0 and table.stdout.splitlines()[0].split()[:3] == ["campaign", "qualified", "suppressed"]
    assert [line.split()[0] for line in table.stdout.splitlines()[2:3]] == ["welcome"]
    request = urllib.request.Request(f"http://127.0.0.1:{w3.api_port}/v1/campaigns/abandoned-cart/stats",
                                     headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        assert json.loads(response.read()) == cart
    missing = _stats(harness, "no-such-campaign")
    assert missing.returncode == 1 and "no stats for campaign 'no-such-campaign'" in missing.stderr
