"""Fuzzing the campaign loader with generated YAML: whatever the text, the loader answers
with a campaign or with pushcast's own errors (positioned, short), never another
exception, and each example stays within a hypothesis deadline (no blow-up: the alias
bomb, deep nesting and huge numbers are all in the vocabulary).

Structured mutations (valid YAML, wrong values: the reference example with one value
replaced) and YAML's own syntax: anchors, tags, flow and block styles, documents, odd bytes."""

from __future__ import annotations

import json
import tempfile
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from engine.rules.errors import ConfigError
from engine.rules.loader import load_campaigns, parse_campaign
from engine.rules.testfile import load_test_file
from engine.rules.yamlpos import parse_yaml, plain

GOOD = """campaign: cart
who:
  on: {event: Added To Cart, where: {price: {gte: 10}}}
  unless: {event: Charged, within: 10m, match: [cart_id]}
when:
  dnd: {from: "21:00", to: "09:00", then: delay}
what:
  title: "Still thinking about {{ event.product | default: 'your cart' }}?"
  url: "https://shop.example/cart/{{ event.cart_id }}"
  actions:
    - {title: Checkout, url: "https://shop.example/checkout"}
"""
# YAML syntax, campaign keys and values known to be hard on parsers.
TOKENS = [
    "campaign:", "who:", "on:", "what:", "when:", "title:", "url:", "unless:", "within:", "match:",
    "schedule:", "cron:", "segment:", "did:", "event:", " ", "  ", "\n", "\n  ", "- ", "-", "{", "}", "[",
    "]", ",", ":", ": ", "? ", "&a ", "*a", "&b [*a,*a,*a,*a]", "*b", "<<: *a", "!!str ", "!!int ",
    "!!python/object:os.system ", "!custom ", "!!binary ", "'", '"', "|", ">-", "#", "%YAML 1.2\n", "---\n",
    "...\n", "@", "`", "\t", "{{ event.x }}", "{% if %}", "9" * 5000, "1e999", "-.inf", ".nan", "0x1F",
    "0o17", "~", "null", "yes", "2026-13-45", "\\u0000", "\x00", "\ufeff", "\x85", "\u2028", "é", "\U0001f600",
    "[" * 80, "]" * 80, "{a: " * 70, "\r\n", "\\", "%", "=", "<<",
]
_TEXT = st.lists(st.one_of(st.sampled_from(TOKENS), st.text(max_size=8)), max_size=40).map("".join)
_VALUES = st.sampled_from([t for t in TOKENS if t.strip()] + ["&a [x, x, x, x, x, x, x, x, x]", "lol"]) | st.text(max_size=6)


@st.composite
def _lines(draw) -> str:
    """Line-shaped YAML, `key: value` at some indent: values land where values go."""
    out = []
    for _ in range(draw(st.integers(1, 12))):
        indent = "  " * draw(st.integers(0, 3))
        key = draw(st.sampled_from([t.rstrip(":") for t in TOKENS if t.endswith(":")]) | st.text(max_size=5))
        out.append(f"{indent}{key}: {draw(_VALUES)}")
    return "\n".join(out) + "\n"


@st.composite
def _mutated(draw) -> str:
    """The good file with a few insertions, deletions or replacements."""
    text = GOOD
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        cut = draw(st.integers(0, 8))
        text = text[:at] + draw(st.sampled_from(TOKENS) | st.text(max_size=4)) + text[at + cut:]
    return text


_YAML = st.one_of(_TEXT, _mutated(), _lines())


def _bomb(levels: int = 9) -> str:
    lines = ['l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"l{n}: &l{n} [" + ",".join([f"*l{n - 1}"] * 9) + "]" for n in range(1, levels)]
    return "\n".join(lines) + "\n"


# Seeds the generator alone rarely reaches: each broke the loader once.
SEEDS = [_bomb(), "campaign: " + "9" * 5000 + "\n", "what: " + "[" * 5000 + "\n", "a: &r [*r]\n",
         GOOD.replace("Checkout", "'" + "x" * 20_000 + "'"), GOOD.replace("event: Charged", "9" * 5000 + ": 1")]


def _seeded(test):
    for seed in SEEDS:
        test = example(seed)(test)
    return test
# Bounded time per example: generous for a loaded CI machine, far below a blow-up.
# derandomize: the same examples on every run, so CI is never red by chance (run with more
# examples and a random seed by hand to explore; what they find becomes an @example).
_SETTINGS = settings(max_examples=150, deadline=timedelta(seconds=20), database=None, derandomize=True,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def _assert_clear(error: ConfigError) -> None:
    assert error.problems
    for problem in error.problems:
        assert problem.message and (problem.position is not None or problem.file)
        assert len(str(problem)) < 600, str(problem)  # quotes an excerpt, never the input


@_SETTINGS
@given(text=_YAML)
@_seeded
def test_campaign_text_loads_or_fails_clearly(text):
    try:
        parse_campaign(text, "fuzz.yaml")
    except ConfigError as error:
        _assert_clear(error)


@_SETTINGS
@given(raw=st.one_of(_YAML.map(lambda t: t.encode("utf-8", "surrogatepass")), st.binary(max_size=200)))
def test_campaign_files_load_or_fail_clearly(raw):
    # Files add reading: invalid UTF-8, NUL bytes, byte order marks.
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "fuzz.yaml").write_bytes(raw)
        try:
            load_campaigns([Path(folder)])
        except ConfigError as error:
            _assert_clear(error)


@_SETTINGS
@given(text=_YAML)
@_seeded
def test_campaign_test_files_load_or_fail_clearly(text):
    # Test files allow aliases (within a budget): the alias bomb must stay bounded there too.
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.test.yaml"
        path.write_text("campaigns: []\nstart: 2026-12-01T00:00:00Z\ncases:\n" + text, encoding="utf-8",
                        errors="surrogatepass")
        try:
            load_test_file(path)
        except ConfigError as error:
            _assert_clear(error)


# --- structured mutations: any change of a valid file is a campaign or positioned problems

_EXAMPLE = plain(parse_yaml((Path(__file__).parents[1] / "corpus" / "formats-example.good.yaml").read_text(), "x")[0])
_VOCABULARY = ["event", "where", "within", "in_last", "between", "did", "all", "any", "not", "profile",
               "at", "cron", "timezone", "max", "per", "from", "to", "then", "title", "url", "gte", "in"]
_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=False),
    st.sampled_from(["10m", "-1d", "0s", "9999-12-31", "0001-01-01", "2026-12-24T10:00", "25:00", "21:00",
                     "user", "{{ event.x }}", "{{ bad", "https://x.example/{{ event.id }}", "javascript:x",
                     "Europe/Paris", "0 10 * * MON", "", "delay", "at_least"]),
    st.text(max_size=12),
)
_VALUES = st.recursive(_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3),
    st.dictionaries(st.one_of(st.sampled_from(_VOCABULARY), st.text(max_size=5)), inner, max_size=3)),
    max_leaves=8)


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, prefix + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, prefix + (index,))


_ALL_PATHS = [p for p in _paths(_EXAMPLE) if p]


def _replace(value, path, new):
    if not path:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = _replace(value[path[0]], path[1:], new)
    return copy


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(_ALL_PATHS), new=_VALUES)
def test_any_mutation_loads_or_reports_positioned_problems(path, new):
    text = json.dumps(_replace(_EXAMPLE, path, new))  # JSON is YAML
    try:
        parse_campaign(text, "m.yaml")
    except ConfigError as error:
        assert error.problems
        assert all(p.position is not None and p.message for p in error.problems)
