"""pushcast.yaml: the global settings, with the same positions and messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.rules.config import load_config, parse_config
from engine.rules.errors import ConfigError
from engine.rules.model import FrequencyLimit, GlobalConfig, PushService, TimeOfDay

FULL = """\
limits:
  - {max: 3, per: 1d}
  - {max: 10, per: 7d}
min_gap: 30m
dnd: {from: "22:00", to: "08:00", then: delay}
timezone: Asia/Kolkata
test_users: [qa-1, qa-2]
vapid:
  key: .pushcast/vapid_private.pem
  subject: mailto:push@shop.example
push_services:
  - {host: fcm.googleapis.com, rate: 500, burst: 1000}
  - {host: "*.push.apple.com"}
  - {host: "http://127.0.0.1:8090"}
kafka: 127.0.0.1:9092
redis: redis://127.0.0.1:6379/0
site_origins: [https://shop.example, "http://localhost:8000/"]
admin_token: 0123456789abcdef0123
identity_secret: identity-secret-0123456789
state_dir: /var/lib/pushcast
"""


def problems_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        parse_config(text)
    return [str(p) for p in raised.value.problems]


def test_every_key_is_read():
    c = parse_config(FULL)
    assert c.limits == (FrequencyLimit(3, 86400), FrequencyLimit(10, 7 * 86400))
    assert c.min_gap == 1800
    assert (c.dnd.start, c.dnd.end, c.dnd.then) == (TimeOfDay(22, 0), TimeOfDay(8, 0), "delay")
    assert c.timezone == "Asia/Kolkata" and c.test_users == ("qa-1", "qa-2")
    assert (c.vapid_key, c.vapid_subject) == (".pushcast/vapid_private.pem", "mailto:push@shop.example")
    assert c.push_services == (PushService("fcm.googleapis.com", 500, 1000), PushService("*.push.apple.com"),
                               PushService("http://127.0.0.1:8090"))
    assert (c.kafka, c.redis) == ("127.0.0.1:9092", "redis://127.0.0.1:6379/0")
    assert c.site_origins == ("https://shop.example", "http://localhost:8000")
    assert c.admin_token == "0123456789abcdef0123" and c.state_dir == "/var/lib/pushcast"
    assert c.identity_secret == "identity-secret-0123456789"


def test_none_gives_defaults_and_an_empty_file_too(tmp_path):
    assert load_config(None) == GlobalConfig()
    empty = tmp_path / "pushcast.yaml"
    empty.write_text("# nothing yet\n")
    assert load_config(empty) == GlobalConfig()


def test_a_single_limit_mapping_is_accepted():
    assert parse_config("limits: {max: 3, per: 1d}\n").limits == (FrequencyLimit(3, 86400),)


def test_an_explicit_missing_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError) as raised:
        load_config(tmp_path / "nope.yaml")
    assert str(raised.value) == f"{tmp_path / 'nope.yaml'}: no such file"


def test_load_config_reads_a_file(tmp_path):
    path = tmp_path / "pushcast.yaml"
    path.write_text(FULL)
    assert load_config(path) == parse_config(FULL)
    assert load_config(str(path)).min_gap == 1800


def test_all_problems_with_positions():
    assert problems_of("""\
limits: [{max: 0, per: 1d}, {max: 3, per: daily}]
min_gap: soon
timezone: Mars/Olympus
vapid: {subject: push@shop.example}
admin_token: short
push_services: [{host: "https://fcm.googleapis.com/path"}, {host: fcm.googleapis.com, rate: -1}]
redis: 127.0.0.1:6379
site_origins: [https://shop.example/app]
kafak: localhost:9092
identity_secret: hunter2
""") == [
        "pushcast.yaml:1:16: limits[0].max: must be at least 1, got 0",
        'pushcast.yaml:1:43: limits[1].per: expected a duration like 10m, got "daily"',
        'pushcast.yaml:2:10: min_gap: expected a duration like 10m, got "soon"',
        'pushcast.yaml:3:11: timezone: unknown time zone "Mars/Olympus"; expected an IANA name like Europe/Paris',
        'pushcast.yaml:4:18: vapid.subject: expected a contact like mailto:push@shop.example or https://shop.example, '
        'got "push@shop.example"',
        "pushcast.yaml:5:14: admin_token: must be at least 16 characters (try: openssl rand -hex 24)",
        'pushcast.yaml:6:24: push_services[0].host: expected a host name like fcm.googleapis.com or *.push.apple.com '
        '(or http://127.0.0.1:PORT for tests), got "https://fcm.googleapis.com/path"',
        "pushcast.yaml:6:93: push_services[1].rate: must be at least 0.001, got -1",
        'pushcast.yaml:7:8: redis: expected a URL like redis://127.0.0.1:6379/0, got "127.0.0.1:6379"',
        'pushcast.yaml:8:16: site_origins[0]: expected an origin like https://shop.example (no path), '
        'got "https://shop.example/app"',
        'pushcast.yaml:9:1: kafak: unknown key "kafak" (did you mean "kafka"?); allowed: limits, min_gap, dnd, '
        "timezone, test_users, vapid, push_services, kafka, redis, site_origins, admin_token, identity_secret, "
        "state_dir, max_event_ahead, decision_log",
        "pushcast.yaml:10:18: identity_secret: must be at least 16 characters (try: openssl rand -hex 32)",
    ]


def test_dnd_problems_match_campaign_files():
    assert problems_of('dnd: {from: "22:00", to: "22:00"}\n') == [
        'pushcast.yaml:1:26: dnd.to: must differ from "from" (22:00): the window would be empty']
    assert problems_of('dnd: {from: "22:00", to: "8am"}\n') == [
        'pushcast.yaml:1:26: dnd.to: expected a time of day like "21:00", got "8am"']


def test_not_a_mapping():
    assert problems_of("- limits\n") == [
        "pushcast.yaml:1:1: expected a mapping with keys limits, min_gap, dnd, timezone, test_users, vapid, "
        "push_services, kafka, redis, site_origins, admin_token, identity_secret, state_dir, max_event_ahead, decision_log, "
        "got a list"]


def test_project_config_loads():
    project = Path(__file__).resolve().parents[3] / "pushcast.yaml"
    if project.exists():
        assert isinstance(load_config(project), GlobalConfig)
