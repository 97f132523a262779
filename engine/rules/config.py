"""Load `pushcast.yaml`, the global settings, with the same positions and messages as
campaign files."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from engine.rules.declared import CONFIG, PUSH_SERVICE, VAPID
from engine.rules.errors import ConfigError, Problem
from engine.rules.fields import At, Checker
from engine.rules.model import Engagement, Fatigue, GlobalConfig, PushService
from engine.rules.parse import check_zone
from engine.rules.when import read_dnd, read_limits, read_on_limit
from engine.rules.yamlpos import parse_yaml, read_yaml

CONFIG_NAMES = ("pushcast.yaml", "pushcast.yml")
CONFIG_KEYS = CONFIG.names
MIN_TOKEN_LENGTH = 16  # a short admin token can be guessed; it guards sends to everyone
MIN_SECRET_LENGTH = 16  # identity_secret: a short one can be brute-forced from one user_hash
_HOST = re.compile(r"(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*", re.IGNORECASE)
# Test push services (the emulator) run on loopback over plain http.
_LOOPBACK = re.compile(r"http://(127\.0\.0\.1|localhost|\[::1\])(:\d{1,5})?")


def load_config(path: Path | str | None) -> GlobalConfig:
    """The global config; `None` gives the defaults. ConfigError lists every problem."""
    if path is None:
        return GlobalConfig()
    path = Path(path)
    value, pos, text, problems = read_yaml(path)
    if value is None and problems:
        raise ConfigError(problems)
    return _build(value, pos, text, str(path), problems)


def parse_config(text: str, file: str = "pushcast.yaml") -> GlobalConfig:
    """The global config from YAML text (tests, tools)."""
    value, pos, problems = parse_yaml(text, file)
    if value is None and problems:
        raise ConfigError(problems)
    return _build(value, pos, text, file, problems)


def _build(value, pos, text: str, file: str, problems: list[Problem]) -> GlobalConfig:
    ck = Checker(file, text=text)
    config = read_config(ck, At(value, pos, ""))
    problems = sorted(problems + ck.problems, key=Problem.sort_key)
    if problems:
        raise ConfigError(problems)
    return config


def read_config(ck: Checker, at: At) -> GlobalConfig | None:
    if at.value is None:  # an empty file: all defaults
        return GlobalConfig(position=at.pos)
    if not ck.declared(at, CONFIG):
        return None
    m = at.value
    settings: dict = {}
    readers = {
        "limits": lambda a: read_limits(ck, a),
        "min_gap": lambda a: ck.duration(a),
        "dnd": lambda a: read_dnd(ck, a),
        "timezone": lambda a: ck.check(a, check_zone),
        "test_users": lambda a: ck.strings(a, example="[qa-1, qa-2]"),
        "push_services": lambda a: read_push_services(ck, a),
        "kafka": lambda a: ck.text(a),
        "redis": lambda a: read_redis(ck, a),
        "site_origins": lambda a: read_origins(ck, a),
        "admin_token": lambda a: read_token(ck, a),
        "identity_secret": lambda a: read_secret(ck, a),
        "state_dir": lambda a: ck.text(a),
        "fatigue": lambda a: read_fatigue(ck, a),
        "engagement": lambda a: read_engagement(ck, a),
        "declarative_push": lambda a: ck.boolean(a),
        # A clock skew allowance, not a scheduling feature: at most a year.
        "max_event_ahead": lambda a: ck.duration(a, minimum=1, maximum=366 * 86400),
        "decision_log": lambda a: read_decision_log(ck, a),
    }
    for key, reader in readers.items():
        if key in m:
            settings[key] = reader(at.child(key))
    if "on_limit" in m or "max_delay" in m:
        policy = read_on_limit(ck, at, default="drop")
        if policy is not None:
            settings["on_limit"], settings["max_delay"] = policy
    if "vapid" in m:
        vapid = at.child("vapid")
        if ck.declared(vapid, VAPID):
            if "key" in vapid.value:
                settings["vapid_key"] = ck.text(vapid.child("key"))
            if "subject" in vapid.value:
                settings["vapid_subject"] = read_subject(ck, vapid.child("subject"))
    if ck.problems:
        return None
    return GlobalConfig(**settings, position=at.pos)


def read_fatigue(ck: Checker, at: At) -> Fatigue | None:
    if not ck.declared(at, CONFIG.key("fatigue").kind):
        return None
    ignored = ck.integer(at.child("ignored"), minimum=1) if "ignored" in at.value else None
    pause = ck.duration(at.child("pause"), minimum=3600) if "pause" in at.value else None
    return Fatigue(ignored, pause) if ignored is not None and pause is not None else None


def read_engagement(ck: Checker, at: At) -> Engagement | None:
    if not ck.declared(at, CONFIG.key("engagement").kind):
        return None
    m = at.value
    rate = _fraction(ck, at.child("min_click_rate")) if "min_click_rate" in m else None
    window = ck.duration(at.child("window"), minimum=3600, maximum=400 * 86400) if "window" in m else None
    settings: dict = {}
    if "action" in m:
        settings["action"] = ck.choice(at.child("action"), ("throttle", "pause"))
    if "min_sends" in m:
        settings["min_sends"] = ck.integer(at.child("min_sends"), minimum=1)
    if "throttle" in m:
        settings["throttle"] = _fraction(ck, at.child("throttle"))
    if rate is None or window is None or None in settings.values():
        return None
    if window % 3600:
        ck.error(at.child("window").pos, at.child("window").path,
                 f"must be whole hours (sends and clicks are counted per hour), got {window}s")
        return None
    return Engagement(float(rate), window, **settings)


def _fraction(ck: Checker, at: At) -> float | None:
    """A number strictly between 0 and 1."""
    value = ck.number(at, minimum=0)
    if value is not None and not 0 < value < 1:
        ck.error(at.pos, at.path, f"must be above 0 and below 1 (a share: 0.02 is 2%), got {value:g}")
        return None
    return float(value) if value is not None else None


MAX_DECISION_LOG = 1000  # each row is stored in every user's state, read and written per event


def read_decision_log(ck: Checker, at: At) -> int | None:
    """Decisions kept per user for `pushcast explain` (0: no log)."""
    keep = ck.integer(at, minimum=0)
    if keep is not None and keep > MAX_DECISION_LOG:
        ck.error(at.pos, at.path, f"at most {MAX_DECISION_LOG} (each is kept in every user's state), got {keep}")
        return None
    return keep


def read_subject(ck: Checker, at: At) -> str | None:
    subject = ck.text(at)
    # RFC 8292: push services contact the sender through this; they require mailto: or https:.
    if subject is not None and not subject.startswith(("mailto:", "https://")):
        ck.error(at.pos, at.path, f'expected a contact like mailto:push@shop.example or https://shop.example, got "{subject}"')
        return None
    return subject


def read_push_services(ck: Checker, at: At) -> tuple[PushService, ...] | None:
    if not ck.sequence(at, example="[{host: fcm.googleapis.com, rate: 500}]"):
        return None
    services = []
    for item in at.items():
        if not ck.declared(item, PUSH_SERVICE):
            continue
        m = item.value
        host = ck.text(item.child("host")) if "host" in m else None
        if host is not None and _HOST.fullmatch(host):
            host = host.lower()  # host names compare case-insensitively
        elif host is not None and not _LOOPBACK.fullmatch(host):
            ck.error(m.value_pos["host"], item.path + ".host",
                     f'expected a host name like fcm.googleapis.com or *.push.apple.com (or http://127.0.0.1:PORT for tests), got "{host}"')
            host = None
        rate = ck.number(item.child("rate"), minimum=0.001) if "rate" in m else None
        burst = ck.integer(item.child("burst"), minimum=1) if "burst" in m else None
        declarative = ck.boolean(item.child("declarative")) if "declarative" in m else False
        if host is not None and declarative is not None:
            services.append(PushService(host, rate, burst, declarative))
    return tuple(services) if len(services) == len(at.value) else None


def read_redis(ck: Checker, at: At) -> str | None:
    url = ck.text(at)
    if url is not None and not url.startswith(("redis://", "rediss://", "unix://")):
        ck.error(at.pos, at.path, f'expected a URL like redis://127.0.0.1:6379/0, got "{url}"')
        return None
    return url


def read_origins(ck: Checker, at: At) -> tuple[str, ...] | None:
    origins = ck.strings(at, example="[https://shop.example]")
    if origins is None:
        return None
    out = []
    for item, origin in zip(at.items(), origins):
        parts = urlsplit(origin.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path or parts.query:
            ck.error(item.pos, item.path, f'expected an origin like https://shop.example (no path), got "{origin}"')
            continue
        out.append(f"{parts.scheme}://{parts.netloc}")
    return tuple(out) if len(out) == len(origins) else None


def read_token(ck: Checker, at: At) -> str | None:
    token = ck.text(at)
    if token is not None and len(token) < MIN_TOKEN_LENGTH:
        ck.error(at.pos, at.path, f"must be at least {MIN_TOKEN_LENGTH} characters (try: openssl rand -hex 24)")
        return None
    return token


def read_secret(ck: Checker, at: At) -> str | None:
    """identity_secret: the key of every user_hash; short ones can be brute-forced from
    a single user_hash seen in a page."""
    secret = ck.text(at)
    if secret is not None and len(secret) < MIN_SECRET_LENGTH:
        ck.error(at.pos, at.path, f"must be at least {MIN_SECRET_LENGTH} characters (try: openssl rand -hex 32)")
        return None
    return secret


def is_config_file(path: Path) -> bool:
    return path.name in CONFIG_NAMES

