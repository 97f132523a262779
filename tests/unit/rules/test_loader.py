"""Campaign files: the model built from them, every problem reported, folders, speed."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from engine.rules.errors import ConfigError, Problem
from engine.rules.loader import collect_campaigns, load_campaign_file, load_campaigns, parse_campaign
from engine.rules.model import (
    All, Condition, DateTrigger, Did, Inaction, LiveTrigger, Not, Position, ProfileMatch, TimeOfDay,
)
from engine.rules.parse import BadValue, parse_datetime, parse_duration, parse_time_of_day

CORPUS = Path(__file__).parents[1] / "corpus"

MINIMAL = """\
campaign: {id}
who:
  on: {{event: Added To Cart}}
what:
  title: Your cart is waiting
"""


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(text: str) -> list[Problem]:
    with pytest.raises(ConfigError) as raised:
        parse_campaign(text, "c.yaml")
    return raised.value.problems


# --- the reference example (docs/campaigns.md) ----------------------------------------


def test_formats_example_builds_the_model():
    c = load_campaign_file(CORPUS / "formats-example.good.yaml")
    assert (c.id, c.name, c.status, c.timezone, c.is_live) == (
        "abandoned-cart", "Abandoned cart reminder", "active", "UTC", True)
    assert c.trigger == LiveTrigger("Added To Cart", where=c.trigger.where)
    assert c.trigger.where.conditions == (Condition("price", "gte", 10),)
    assert c.unless == Inaction("Charged", 600, ("cart_id",))
    assert isinstance(c.segment, All)
    profile, viewed, not_charged = c.segment.items
    assert profile == ProfileMatch(c.segment.items[0].filter)
    assert profile.filter.conditions == (Condition("country", "in", ("IN", "US")),)
    assert viewed == Did("Product Viewed", "at_least", 3, in_last=30 * 86400, where=viewed.where)
    assert viewed.where.conditions == (Condition("category", "eq", "shoes"),)
    assert not_charged == Not(Did("Charged", in_last=7 * 86400))
    w = c.when
    assert (w.start, w.end, w.delay) == (ms("2026-12-01T00:00:00+00:00"), ms("2027-01-01T00:00:00+00:00"), 0)
    assert w.limits.ignore_global is False and [(x.max, x.per) for x in w.limits.per_user] == [(1, 86400)]
    assert (w.dnd.start, w.dnd.end, w.dnd.then) == (TimeOfDay(21, 0), TimeOfDay(9, 0), "delay")
    assert w.cutoff == TimeOfDay(22, 0) and w.cutoff_at is None and w.schedule is None
    m = c.what
    assert m.title.source.startswith("Still thinking about")
    assert (m.ttl, m.urgency, m.require_interaction) == (86400, "normal", True)
    assert [a.action for a in m.actions] == ["action-1"]
    assert m.tag is None
    event = {"product": "Trail shoes", "cart_id": "c-9", "image_url": "https://cdn.example/p.png"}
    assert m.title.render({}, event) == "Still thinking about Trail shoes?"
    assert m.url.render({}, event) == "https://shop.example/cart/c-9?utm_source=push"
    assert (c.conversion.event, c.conversion.within, c.conversion.revenue) == ("Charged", 86400, "amount")
    assert c.position == Position(str(CORPUS / "formats-example.good.yaml"), 1, 11)


def test_loading_the_same_file_twice_gives_equal_campaigns():
    # Reload keeps the state of unchanged campaigns: equality must mean "same file content".
    path = CORPUS / "formats-example.good.yaml"
    assert load_campaign_file(path) == load_campaign_file(path)


# --- every problem, with its position --------------------------------------------------


def test_three_mistakes_are_all_reported_in_file_order():
    problems = problems_of("""\
campaign: cart
status: running
who:
  on: {event: Added To Cart}
  unless: {event: Charged, within: ten}
what:
  title: Hi
  ttl: forever
""")
    assert [str(p) for p in problems] == [
        'c.yaml:2:9: campaign "cart", status: expected one of active | paused, got "running"',
        'c.yaml:5:36: campaign "cart", who.unless.within: expected a duration like 10m, got "ten"',
        'c.yaml:8:8: campaign "cart", what.ttl: expected a duration like 10m, got "forever"',
    ]


def test_problem_format_matches_the_style_guide():
    problem = Problem(Position("campaigns.d/cart.yaml", 12, 5), "cart", "what.within",
                      'expected a duration like 10m, got "ten"')
    assert str(problem) == 'campaigns.d/cart.yaml:12:5: campaign "cart", what.within: expected a duration like 10m, got "ten"'
    assert str(Problem(None, None, "", "no such file", file="x.yaml")) == "x.yaml: no such file"


def test_config_error_lists_every_line():
    error = ConfigError([Problem(Position("a", 1, 1), None, "x", "bad"), Problem(Position("a", 2, 1), None, "y", "worse")])
    assert str(error) == "a:1:1: x: bad\na:2:1: y: worse"


def test_duplicate_yaml_key_has_a_position_and_the_campaign():
    problems = problems_of(MINIMAL.format(id="cart") + "  title: Again\n")
    assert [str(p) for p in problems] == ['c.yaml:6:3: campaign "cart": duplicate key "title" (first at line 5)']


def test_yaml_syntax_error_is_one_positioned_problem():
    problems = problems_of("campaign: x\nwhat: {title: [\n")
    assert len(problems) == 1 and problems[0].position.line == 3
    assert problems[0].message.startswith("invalid YAML")


def test_mistakes_in_nested_segments_are_all_found():
    problems = problems_of("""\
campaign: cart
who:
  on: Added To Cart
  segment:
    any:
      - {did: Viewed, in_last: 9000d}
      - all:
          - profile: {age: {gte: old}}
          - not: {did: Charged}
what: {title: Hi}
""")
    assert [(p.position.line, p.path) for p in problems] == [
        (6, "who.segment.any[0].in_last"),
        (8, "who.segment.any[1].all[0].profile.age.gte"),
        (9, "who.segment.any[1].all[1].not"),
    ]


def test_unknown_keys_say_what_is_allowed():
    problems = problems_of(MINIMAL.format(id="cart") + "when: {dealy: 5m}\n")
    assert problems[0].path == "when.dealy"
    assert 'did you mean "delay"' in problems[0].message
    assert "allowed: start, end, delay, limits, priority, dnd, cutoff, schedule, best_time" in problems[0].message


# --- files, folders, duplicates -------------------------------------------------------


def test_folder_loads_top_level_yaml_sorted_and_skips_tests_config_and_dotfiles(tmp_path):
    write(tmp_path, "b.yaml", MINIMAL.format(id="b"))
    write(tmp_path, "a.yml", MINIMAL.format(id="a"))
    write(tmp_path, "tests/a.test.yaml", "campaigns: [../a.yml]\n")
    write(tmp_path, "pushcast.yaml", "min_gap: 30m\n")
    write(tmp_path, ".#b.yaml", "not: [a campaign\n")
    write(tmp_path, "notes.txt", "hello")
    campaigns = load_campaigns([tmp_path])
    assert [c.id for c in campaigns] == ["a", "b"]


def test_duplicate_ids_across_files_name_both_files(tmp_path):
    first = write(tmp_path, "a.yaml", MINIMAL.format(id="cart"))
    second = write(tmp_path, "b.yaml", MINIMAL.format(id="cart"))
    with pytest.raises(ConfigError) as raised:
        load_campaigns([tmp_path])
    (problem,) = raised.value.problems
    assert str(problem) == (f'{second}:1:11: campaign "cart", campaign: duplicate campaign id, '
                            f"also defined in {first}:1:11")


def test_problems_of_every_file_are_collected(tmp_path):
    write(tmp_path, "a.yaml", MINIMAL.format(id="a").replace("Your cart is waiting", '""'))
    write(tmp_path, "b.yaml", MINIMAL.format(id="b") + "  urgency: asap\n")
    write(tmp_path, "c.yaml", MINIMAL.format(id="c"))
    with pytest.raises(ConfigError) as raised:
        load_campaigns([tmp_path, tmp_path / "missing.yaml"])
    assert sorted(p.location.split(":")[0] for p in raised.value.problems) == sorted(
        [str(tmp_path / "missing.yaml"), str(tmp_path / "a.yaml"), str(tmp_path / "b.yaml")])
    results, _ = collect_campaigns([tmp_path])
    assert [r.campaign.id if r.campaign else None for r in results] == [None, None, "c"]


def test_the_same_file_given_twice_is_loaded_once(tmp_path):
    path = write(tmp_path, "a.yaml", MINIMAL.format(id="a"))
    assert len(load_campaigns([tmp_path, path])) == 1


def test_sixty_campaigns_load_as_sixty(tmp_path):
    # No wall-clock budget here: a loaded machine is not a slow loader.
    source = (CORPUS / "formats-example.good.yaml").read_text()
    for i in range(60):
        write(tmp_path, f"c{i:02}.yaml", source.replace("campaign: abandoned-cart", f"campaign: cart-{i}"))
    campaigns = load_campaigns([tmp_path])
    assert sorted(c.id for c in campaigns) == sorted(f"cart-{i}" for i in range(60))


# --- triggers, time zones, schedules --------------------------------------------------


def test_date_trigger_and_campaign_time_zone():
    c = load_campaign_file(CORPUS / "date-reminder.good.yaml")
    assert c.trigger == DateTrigger("Flight Booked", "departure", -86400, TimeOfDay(9, 0), c.trigger.where)
    assert c.trigger.where.conditions == (Condition("cabin", "in", ("economy", "business")),)
    assert c.timezone == "Europe/Paris"
    assert c.when.start == ms("2026-11-01T00:00:00+01:00")  # a bare date: midnight in the campaign's zone
    assert [(x.max, x.per) for x in c.when.limits.per_user] == [(2, 86400), (5, 28 * 86400)]
    assert c.when.limits.ignore_global and c.when.dnd.then == "discard"
    assert [a.action for a in c.what.actions] == ["checkin", "action-2"]
    assert c.what.ttl == 12 * 3600 and c.what.urgency == "high"


def test_datetimes_without_offset_follow_the_campaign_zone_across_dst():
    text = MINIMAL.format(id="x") + "timezone: Europe/Paris\nwhen: {start: 2026-07-01T10:00, end: 2026-12-01T10:00}\n"
    c = parse_campaign(text)
    assert c.when.start == ms("2026-07-01T10:00:00+02:00")  # summer time
    assert c.when.end == ms("2026-12-01T10:00:00+01:00")  # winter time
    explicit = parse_campaign(text.replace("2026-07-01T10:00", "2026-07-01T10:00:00Z"))
    assert explicit.when.start == ms("2026-07-01T10:00:00+00:00")


def test_scheduled_campaign_in_users_local_time():
    c = load_campaign_file(CORPUS / "scheduled-local-times.good.yaml")
    s = c.when.schedule
    assert not c.is_live and c.status == "paused"
    assert s.timezone == "user" and s.late == "next_day" and s.cron is None
    assert s.at_local == ("2026-12-24T10:00:00", "2026-12-24T18:30:00")
    assert s.at == (ms("2026-12-24T10:00:00+00:00"), ms("2026-12-24T18:30:00+00:00"))  # wall times
    assert c.when.cutoff_at == ms("2026-12-24T22:00:00+00:00")
    charged = c.segment.items[1]
    # A bare end date includes that whole day.
    assert charged.between == (ms("2026-11-01T00:00:00+00:00"), ms("2026-12-01T00:00:00+00:00"))
    assert (charged.count_op, charged.count) == ("exactly", 2)
    assert charged.where.conditions == (Condition("amount", "gte", 10), Condition("amount", "lt", 500))
    profile = c.segment.items[3].filter.conditions
    assert Condition("signed_up", "before", ms("2026-06-01T00:00:00+00:00")) in profile
    assert Condition("country", "not_in", ("CN",)) in profile


def test_cron_schedule_with_its_own_zone_and_daily_cutoff():
    c = load_campaign_file(CORPUS / "scheduled-cron.good.yaml")
    assert c.when.schedule.cron == "0 10 * * MON" and c.when.schedule.timezone == "Asia/Tokyo"
    assert c.when.schedule.at == () and c.when.cutoff == TimeOfDay(12, 0)
    assert c.when.end == ms("2027-06-30T23:59:59-04:00")


def test_schedule_at_without_offset_uses_the_schedule_zone():
    c = parse_campaign("""\
campaign: x
timezone: Asia/Kolkata
when: {schedule: {at: "2026-12-24T10:00", timezone: Europe/Paris}}
what: {title: Hi}
""")
    assert c.when.schedule.at == (ms("2026-12-24T10:00:00+01:00"),)


# --- scalar formats ------------------------------------------------------------------


@pytest.mark.parametrize("text,seconds", [
    ("30s", 30), ("10m", 600), ("2h", 7200), ("1d", 86400), ("4w", 28 * 86400), ("1h30m", 5400), ("0s", 0),
])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


def test_negative_durations_only_where_allowed():
    assert parse_duration("-1d", allow_negative=True) == -86400
    for bad in ("-1d", "ten", "10", "10 m", "", "1y"):
        with pytest.raises(BadValue):
            parse_duration(bad)
    with pytest.raises(BadValue, match='expected a duration like 10m, got 600'):
        parse_duration(600)


def test_times_of_day():
    assert parse_time_of_day("09:00") == TimeOfDay(9, 0)
    assert parse_time_of_day("9:05") == TimeOfDay(9, 5)
    assert str(parse_time_of_day("23:59")) == "23:59"
    for bad in ("24:00", "12:60", "noon", 900):
        with pytest.raises(BadValue):
            parse_time_of_day(bad)


def test_datetimes():
    utc = timezone.utc
    kolkata = ZoneInfo("Asia/Kolkata")
    assert parse_datetime("2026-12-24T10:00:00Z", kolkata) == ms("2026-12-24T10:00:00+00:00")
    assert parse_datetime("2026-12-24T10:00", kolkata) == ms("2026-12-24T10:00:00+05:30")
    assert parse_datetime("2026-12-24 10:00:00+0100", utc) == ms("2026-12-24T10:00:00+01:00")
    assert parse_datetime("2026-12-24", kolkata) == ms("2026-12-24T00:00:00+05:30")
    assert parse_datetime("2026-12-24", utc, end_of_day=True) == ms("2026-12-25T00:00:00+00:00")
    for bad in ("2026-02-30", "24/12/2026", "tomorrow", 20261224, "9999-12-31", "0001-01-01T00:00:00+01:00"):
        with pytest.raises(BadValue):
            parse_datetime(bad, utc)


# --- pushcast check (the same code path) ---------------------------------------------


def test_check_prints_each_file_and_success(tmp_path):
    import io

    from engine.rules.check import run_check

    write(tmp_path, "campaigns.d/a.yaml", MINIMAL.format(id="a"))
    write(tmp_path, "campaigns.d/b.yaml", MINIMAL.format(id="b"))
    write(tmp_path, "pushcast.yaml", "min_gap: 30m\n")
    out = io.StringIO()
    assert run_check([tmp_path / "campaigns.d", tmp_path / "pushcast.yaml"], out) == 0
    folder = tmp_path / "campaigns.d"
    assert out.getvalue() == (f"  {folder / 'a.yaml'}: ok (a)\n  {folder / 'b.yaml'}: ok (b)\n"
                              f"  {tmp_path / 'pushcast.yaml'}: ok (global config)\nSUCCESS: 2 campaigns\n")


def test_check_prints_every_error_and_fails(tmp_path):
    import io

    from engine.rules.check import run_check

    write(tmp_path, "a.yaml", MINIMAL.format(id="a") + "  ttl: forever\n  urgency: asap\n")
    write(tmp_path, "b.yaml", MINIMAL.format(id="b"))
    write(tmp_path, "pushcast.yaml", "min_gap: soon\n")
    out = io.StringIO()
    assert run_check([tmp_path], out) == 1
    lines = out.getvalue().splitlines()
    assert lines[:3] == [f"  {tmp_path / 'a.yaml'}: 2 errors", f"  {tmp_path / 'b.yaml'}: ok (b)",
                         f"  {tmp_path / 'pushcast.yaml'}: 1 error"]
    assert lines[3].startswith(f'{tmp_path / "a.yaml"}:6:8: campaign "a", what.ttl: ')
    assert lines[4].startswith(f'{tmp_path / "a.yaml"}:7:12: campaign "a", what.urgency: ')
    assert lines[5].startswith(f"{tmp_path / 'pushcast.yaml'}:1:10: min_gap: ")
    assert lines[6:] == ["FAILED: 3 errors"]


def test_check_validates_test_files_given_by_name(tmp_path):
    import io

    from engine.rules.check import run_check

    write(tmp_path, "campaigns.d/a.yaml", MINIMAL.format(id="a"))
    test_file = write(tmp_path, "campaigns.d/tests/a.test.yaml", "campaigns: [../a.yaml]\nstart: soon\ncases: []\n")
    out = io.StringIO()
    assert run_check([tmp_path / "campaigns.d", test_file], out) == 1
    lines = out.getvalue().splitlines()
    assert lines[1] == f"  {test_file}: 2 errors"
    assert lines[-1] == "FAILED: 2 errors"
