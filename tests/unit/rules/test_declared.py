"""The declaration of the file formats, and what is derived from it: the docs' key
tables, the JSON Schemas editors read, and the loader's accepted keys."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from engine.rules import reference
from engine.rules.config import parse_config
from engine.rules.errors import ConfigError
from engine.rules.loader import parse_campaign
from engine.rules.yamlpos import parse_yaml, plain

ROOT = Path(__file__).resolve().parents[3]
CAMPAIGN_FILES = sorted((ROOT / "campaigns.d").glob("*.yaml")) + sorted(
    p for p in (ROOT / "tests/campaigns").glob("*.yaml") if not p.name.endswith(".test.yaml"))
TEST_FILES = sorted((ROOT / "campaigns.d/tests").glob("*.test.yaml")) + sorted((ROOT / "tests/campaigns").glob("*.test.yaml"))
CONFIG_FILES = [ROOT / "pushcast.yaml", *sorted((ROOT / "tests/campaigns/config").glob("*.yaml"))]
# Mappings documented in prose rather than a key table.
UNTABLED = {"who", "limit", "profile-segment", "all-segment", "any-segment", "not-segment", "down", "reload",
            "expected-action"}


def test_the_docs_and_schemas_match_the_declaration():
    stale = [str(p.relative_to(ROOT)) for p in reference.drifted()]
    assert not stale, f"out of date: {stale}; run .venv/bin/python -m engine.rules.reference --write"


def test_every_declared_mapping_has_a_key_table_in_the_docs():
    marked = set()
    for doc in reference.DOCS:
        marked |= set(reference.MARKER.findall((ROOT / doc).read_text(encoding="utf-8")))
    assert marked - set(reference.declared_objects()) == set(), "a marker names nothing declared"
    assert set(reference.declared_objects()) - UNTABLED - marked == set()


def schema(name: str) -> jsonschema.Draft7Validator:
    loaded = json.loads(reference.schema_path(name).read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(loaded)
    return jsonschema.Draft7Validator(loaded)


def data(text: str):
    value, _, problems = parse_yaml(text, "x.yaml", aliases=True)  # the values the loader sees
    assert not problems
    return plain(value)


@pytest.mark.parametrize("name, files", [
    ("campaign", CAMPAIGN_FILES), ("campaign-test", TEST_FILES), ("pushcast", CONFIG_FILES)])
def test_every_shipped_file_is_valid_under_its_schema(name, files):
    validator = schema(name)
    assert files
    for path in files:
        errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(data(path.read_text()))]
        assert not errors, f"{path.relative_to(ROOT)}: {errors}"


def test_each_example_campaign_names_its_schema_for_editors():
    for path in sorted((ROOT / "campaigns.d").glob("*.yaml")):
        first = path.read_text().splitlines()[0]
        assert first == "# yaml-language-server: $schema=../engine/rules/schemas/campaign.schema.json", path.name


GOOD = """campaign: sale
who:
  on: {event: Added To Cart, where: {price: {gte: 10}}}
  segment: {all: [{did: Viewed, in_last: 7d}, {not: {profile: {plan: free}}}]}
when: {dnd: off, limits: {per_user: [{max: 1, per: 1d}]}}
what: {title: Hi, urgency: high, actions: [{title: Go, url: "https://x.example"}]}
"""


@pytest.mark.parametrize("change", [
    ("urgency: high", "urgency: loud"),          # not one of the choices
    ("title: Hi, ", ""),                         # a required key missing
    ("dnd: off", "dnd: {from: '21:00', until: '09:00'}"),  # an unknown key
    ("in_last: 7d", "in_last: a week"),          # not a duration
    ("max: 1", "max: 0"),                        # below the minimum
])
def test_the_schema_and_the_loader_both_refuse_a_broken_campaign(change):
    old, new = change
    assert old in GOOD
    broken = GOOD.replace(old, new)
    assert not list(schema("campaign").iter_errors(data(GOOD)))
    parse_campaign(GOOD, "sale.yaml")
    assert list(schema("campaign").iter_errors(data(broken)))
    with pytest.raises(ConfigError):
        parse_campaign(broken, "sale.yaml")


def test_the_loader_accepts_exactly_the_declared_config_keys():
    from engine.rules.declared import CONFIG

    assert "state_dir" in CONFIG.names
    with pytest.raises(ConfigError, match=r"unknown key \"stat_dir\" \(did you mean \"state_dir\"\?\)"):
        parse_config("stat_dir: /tmp/x\n")
    assert list(schema("pushcast").iter_errors(data("stat_dir: /tmp/x\n")))


def test_pushcast_schema_prints_the_shipped_schema(capsys):
    from engine.cli import main

    assert main(["schema", "campaign-test"]) == 0
    assert capsys.readouterr().out == reference.schema_path("campaign-test").read_text(encoding="utf-8")
