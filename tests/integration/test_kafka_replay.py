"""The example campaigns' test cases, replayed through Kafka and two workers on a clock
the test moves: the same notifications as `pushcast test` (the simulator) gives.

Cases of one file run together, each case's users renamed `c<i>.<user>` so they do not
meet; the clock steps through the events' times (to just before each, so scheduled runs
and wake-ups due then happen first, as in the simulator) and through every scheduled run
time (a run is decided when it is made, as in every runtime), and ends at the latest
`until`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import orjson
import pytest

from engine.agents.records import decode_notify
from engine.core import CampaignSet
from engine.core.schedule import run_times
from engine.rules.config import load_config
from engine.rules.loader import load_campaigns
from engine.rules.testfile import load_test_file
from engine.testing.runner import DEFAULT_UNTIL_S, compare, notification_fields, run_case
from tests.fixtures.kafka_runtime import make_config

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
TEST_FILES = sorted((ROOT / "campaigns.d" / "tests").glob("*.test.yaml"))


def _renamed(case, index: int):
    events = tuple(dataclasses.replace(e, user=f"c{index}.{e.user}") for e in case.events)
    return dataclasses.replace(case, events=events)


def _comparable(fields: dict) -> dict:
    # The message id (and the default tag, which is it) hashes the user id, renamed here.
    default_tag = fields.get("tag") == fields.get("message")
    return {k: v for k, v in fields.items() if k != "message" and not (k == "tag" and default_tag)}


@pytest.mark.parametrize("test_file", TEST_FILES, ids=lambda p: p.name)
def test_example_campaign_cases_through_kafka_match_pushcast_test(test_file, kafka_runtime_factory, tmp_path):
    suite = load_test_file(test_file)
    base_config = load_config(suite.config) if suite.config else None
    renamed_test_users = [f"c{i}.{u}" for i in range(len(suite.cases)) for u in (base_config.test_users if base_config else ())]
    config_path = make_config(tmp_path, suite.config, extra_test_users=renamed_test_users)
    campaigns = CampaignSet(load_campaigns(list(suite.campaigns)), load_config(config_path))

    # What `pushcast test` gives, case by case (users as the file names them).
    expected: dict[int, list[dict]] = {}
    untils: dict[int, int] = {}
    for i, case in enumerate(suite.cases):
        got = run_case(suite, case, campaigns)
        missing, unexpected = compare(case, got)
        assert not missing and not unexpected, f"{case.name}: pushcast test itself fails"
        expected[i] = sorted((_comparable(g) for g in got), key=orjson.dumps)
        last = max((e.at for e in case.events), default=0)
        untils[i] = suite.start + (case.until if case.until is not None else last + DEFAULT_UNTIL_S) * 1000

    harness = kafka_runtime_factory(list(suite.campaigns), config_path)
    harness.set_clock(suite.start - 1)
    harness.start_worker("w1")
    harness.start_worker("w2")
    harness.wait_members(2)

    steps: dict[int, list[dict]] = {}
    for i, case in enumerate(suite.cases):
        for e in _renamed(case, i).events:
            at = suite.start + e.at * 1000
            steps.setdefault(at, []).append(
                {"user": e.user, "event": e.event, "ts": e.ts if e.ts is not None else at, "props": e.props or {}})
    # A run at R is made with the clock at R, after the events at R (as the simulator does).
    for compiled in campaigns.by_id.values():
        for _slot, run_at in run_times(compiled, suite.start - 1, max(untils.values())):
            steps.setdefault(run_at + 1, [])
    for at in sorted(steps):
        harness.set_clock(at - 1)
        harness.wait_idle()
        harness.produce(steps[at])
        harness.wait_idle()
    harness.set_clock(max(untils.values()))
    harness.wait_idle()

    notifies = [decode_notify(r.value)[0] for r in harness.read(harness.sends_topic)]
    ids = [n.message_id for n in notifies]
    assert len(ids) == len(set(ids)), "a notification was decided twice"
    got: dict[int, list[dict]] = {i: [] for i in expected}
    for notify in notifies:
        prefix, _, user = notify.user.partition(".")
        index = int(prefix[1:])
        if notify.at <= untils[index]:
            got[index].append(_comparable(notification_fields(dataclasses.replace(notify, user=user), suite.start)))
    for i, case in enumerate(suite.cases):
        missing, unexpected = compare(case, got[i])
        assert not missing and not unexpected, f"{case.name}: missing {missing}, unexpected {unexpected}"
        assert sorted(got[i], key=orjson.dumps) == expected[i], case.name

    # Every decided message went to the sender (a dry run, which still checks each
    # subscription) and its result came back into the user's stream.
    reports = [orjson.loads(r.value) for r in harness.read(harness.events_topic)]
    reported = {(e["props"]["message"], e["props"]["endpoint"]) for e in reports
                if e.get("event") in ("$notification_sent", "$notification_failed")}
    assert reported == {(n.message_id, s.endpoint) for n in notifies for s in n.subscriptions}
