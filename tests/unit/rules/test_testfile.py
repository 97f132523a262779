"""Campaign test files: times relative to start, paths relative to the file, positions."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from engine.rules.errors import ConfigError
from engine.rules.testfile import Expectation, TestEvent, load_test_file

START = "2026-11-25T10:00:00Z"
START_MS = int(datetime.fromisoformat("2026-11-25T10:00:00+00:00").timestamp() * 1000)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "campaigns.d" / "tests").mkdir(parents=True)
    (tmp_path / "campaigns.d" / "abandoned-cart.yaml").write_text("campaign: abandoned-cart\n")
    (tmp_path / "pushcast.yaml").write_text("min_gap: 30m\n")
    return tmp_path


def write_test(project: Path, body: str) -> Path:
    path = project / "campaigns.d" / "tests" / "cart.test.yaml"
    path.write_text(body, encoding="utf-8")
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        load_test_file(path)
    return [str(p).removeprefix(f"{path}:") for p in raised.value.problems]


def test_formats_example_is_read(project):
    path = write_test(project, f"""\
campaigns: [../abandoned-cart.yaml]
config: ../../pushcast.yaml       # optional
start: {START}
cases:
  - name: reminds after ten quiet minutes
    events:
      - {{at: 0s, user: u1, event: $profile, props: {{name: Asha, tz: Asia/Kolkata}}}}
      - {{at: 0s, user: u1, event: $push_subscribe, props: {{endpoint: "https://fcm.googleapis.com/fcm/send/x", keys: {{p256dh: "BCVx", auth: "BTBZ"}}}}}}
      - {{at: 1m, user: u1, event: Added To Cart, props: {{product: Trail shoes, cart_id: c-9}}}}
    expect:
      - {{at: 11m, user: u1, campaign: abandoned-cart, title: "Still thinking about Trail shoes?"}}
  - name: no reminder after a purchase
    events:
      - {{at: 5m, user: u1, event: Charged, props: {{cart_id: c-9, amount: 89.5}}}}
    until: 2h                     # run the clock this far
    expect: []
""")
    suite = load_test_file(path)
    assert suite.path == path
    assert suite.campaigns == (project / "campaigns.d" / "abandoned-cart.yaml",)
    assert suite.config == project / "pushcast.yaml"
    assert suite.start == START_MS
    first, second = suite.cases
    assert first.name == "reminds after ten quiet minutes" and first.until is None
    assert [(e.at, e.user, e.event) for e in first.events] == [
        (0, "u1", "$profile"), (0, "u1", "$push_subscribe"), (60, "u1", "Added To Cart")]
    assert first.events[1].props["keys"] == {"p256dh": "BCVx", "auth": "BTBZ"}
    assert type(first.events[1].props) is dict and type(first.events[1].props["keys"]) is dict
    assert first.events[2] == TestEvent(60, "u1", "Added To Cart", {"product": "Trail shoes", "cart_id": "c-9"},
                                        None, first.events[2].position)
    assert first.events[2].position.line == 9
    assert first.expect == (Expectation(660, {"user": "u1", "campaign": "abandoned-cart",
                                              "title": "Still thinking about Trail shoes?"}, first.expect[0].position),)
    assert second.until == 7200 and second.expect == ()
    assert first.position.line == 5 and second.position.line == 12


def test_absolute_times_explicit_ts_and_typed_expectations(project):
    path = write_test(project, """\
campaigns: ../abandoned-cart.yaml
start: 2026-11-25T10:00         # UTC without an offset
cases:
  - name: typed
    events:
      - {at: 2026-11-25T10:05:00Z, user: u1, event: Viewed, ts: 2026-11-25T09:00:00Z}
      - {at: 1d, user: u1, event: Viewed, ts: 1796000000000}
    until: 2026-11-27T10:00:00+00:00
    expect:
      - {user: u1, ttl: 1d, urgency: high, require_interaction: true,
         actions: [{title: Checkout, url: "https://shop.example/checkout/c-9"}]}
""")
    suite = load_test_file(path)
    assert suite.start == START_MS
    case = suite.cases[0]
    assert [(e.at, e.ts) for e in case.events] == [(300, START_MS - 3600 * 1000), (86400, 1796000000000)]
    assert case.until == 2 * 86400
    expectation = case.expect[0]
    assert expectation.at is None
    assert expectation.fields == {"user": "u1", "ttl": 86400, "urgency": "high", "require_interaction": True,
                                  "actions": [{"title": "Checkout", "url": "https://shop.example/checkout/c-9"}]}


def test_every_problem_is_reported_with_its_position(project):
    path = write_test(project, f"""\
campaigns: [../missing.yaml]
start: {START}
cases:
  - name: one
    events:
      - {{at: soon, user: u1, event: Viewed}}
      - {{at: 1m, user: u1, event: Viewed, prop: {{x: 1}}}}
      - {{at: 2026-11-25T09:00:00Z, user: u1, event: Viewed}}
      - {{at: 1m, event: Viewed}}
    expect:
      - {{at: 11m, titel: Hi}}
      - {{urgency: asap}}
  - name: one
    expect: nothing
""")
    missing = project / "campaigns.d" / "missing.yaml"
    assert problems_of(path) == [
        f'1:13: campaigns[0]: no such file or folder: {missing} ("../missing.yaml" is relative to the test file)',
        '6:14: cases[0].events[0].at: expected a time like 11m (after start) or 2026-11-25T10:11:00Z, got "soon"',
        '7:43: cases[0].events[1].prop: unknown key "prop" (did you mean "props"?); allowed: at, user, event, props, ts',
        "8:14: cases[0].events[2].at: is before the suite's start",
        '9:9: cases[0].events[3]: missing required key "user"',
        '11:19: cases[0].expect[0].titel: unknown key "titel" (did you mean "title"?); allowed: at, user, campaign, '
        "variant, title, body, url, icon, image, badge, tag, require_interaction, declarative, ttl, urgency, actions",
        '12:19: cases[0].expect[1].urgency: expected one of very-low | low | normal | high, got "asap"',
        "13:11: cases[1].name: duplicate case name, also at line 4",
        '14:13: cases[1].expect: expected a list like [] (nothing sent) or [{at: 11m, title: ...}], got "nothing"',
    ]


def test_required_suite_keys(project):
    path = write_test(project, "campaigns: [../abandoned-cart.yaml]\ncases: []\n")
    assert problems_of(path) == ['1:1: missing required key "start"', "2:8: cases: must list at least one case"]


def test_a_case_must_say_what_it_expects(project):
    path = write_test(project, f"campaigns: [../abandoned-cart.yaml]\nstart: {START}\ncases:\n  - name: forgot\n")
    assert problems_of(path) == ['4:5: cases[0]: missing required key "expect"']


def test_missing_test_file(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_test_file(tmp_path / "nope.yaml")


def test_project_test_files_load():
    root = Path(__file__).resolve().parents[3]
    for path in sorted((root / "campaigns.d" / "tests").glob("*.yaml")):
        suite = load_test_file(path)
        assert suite.cases, path


def test_a_case_pins_users_to_variants_with_a_profile_event_at_time_zero(tmp_path):
    from engine.core.variants import PIN_PROPERTY

    (tmp_path / "c.yaml").write_text("campaign: c\nwho: {on: X}\nwhat: {title: t}\n")
    path = tmp_path / "t.test.yaml"
    path.write_text("""campaigns: [c.yaml]
start: 2026-11-25T10:00:00Z
cases:
  - name: pinned
    variants: {u1: {ab: b}, u2: {ab: a, other: x}}
    events: [{at: 1m, user: u1, event: X}]
    expect: [{user: u1, variant: b}]
  - name: bad pin
    variants: {u1: b}
    expect: []
""")
    with pytest.raises(ConfigError) as raised:
        load_test_file(path)
    assert [str(p).removeprefix(f"{path}:") for p in raised.value.problems] == [
        "9:20: cases[1].variants.u1: expected a mapping like {u1: {abandoned-cart: b}} (user: {campaign: variant}), "
        'got "b"']
    path.write_text(path.read_text().split("  - name: bad pin")[0])
    [case] = load_test_file(path).cases
    pins = [(e.at, e.user, e.event, e.props) for e in case.events if e.event == "$profile"]
    assert pins == [(0, "u1", "$profile", {PIN_PROPERTY: {"ab": "b"}}),
                    (0, "u2", "$profile", {PIN_PROPERTY: {"ab": "a", "other": "x"}})]
    assert case.expect[0].fields == {"user": "u1", "variant": "b"}
