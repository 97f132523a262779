"""The repository documents itself: links stay inside it and resolve, nothing points at
design notes outside it, the reference names every key the loaders accept, and the
examples in the reference load."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from engine.rules import config, loader, testfile, what, when, who
from engine.rules.config import parse_config
from engine.rules.loader import parse_campaign
from engine.rules.model import OPERATORS

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
# Spelled in two pieces so that this file does not contain what it forbids.
OUTSIDE = ".." + "/shared"
DESIGN_NOTES = ("FORMATS" + ".md", "DESIGN" + ".md", "NOTES" + ".md", "STYLE" + ".md")
_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
_HEADING = re.compile(r"^#{1,6}\s+(.*)$", re.MULTILINE)
_FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def repo_files() -> list[Path]:
    """Tracked and new (not ignored) files: what a clone of the repository holds."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    return [ROOT / name for name in listed if name and (ROOT / name).is_file()]


def text_of(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return None


def links(page: Path) -> list[str]:
    return _LINK.findall(_FENCE.sub("", page.read_text(encoding="utf-8")))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    return {slug(h) for h in _HEADING.findall(_FENCE.sub("", page.read_text(encoding="utf-8")))}


def local_target(page: Path, link: str) -> tuple[Path, str] | None:
    """(file, anchor) of a link into the repository; None for web and mail links."""
    if re.match(r"[a-z][a-z0-9+.-]*:", link):
        return None
    path, _, anchor = link.partition("#")
    return ((page.parent / path).resolve() if path else page.resolve()), anchor


def test_the_reference_pages_exist():
    names = {p.name for p in DOCS.glob("*.md")}
    assert {"campaigns.md", "config.md", "events.md", "campaign-tests.md", "embedded.md", "kafka.md",
            "guarantees.md"} <= names
    readme_links = set(links(ROOT / "README.md"))
    for name in names:
        assert f"docs/{name}" in readme_links, f"the README does not link docs/{name}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_stays_in_the_repository_and_resolves(page: Path):
    problems = []
    for link in links(page):
        target = local_target(page, link)
        if target is None:
            if link.startswith("file:"):
                problems.append(f"{link}: a file URL")
            continue
        path, anchor = target
        if not path.is_relative_to(ROOT):
            problems.append(f"{link}: outside the repository")
        elif not path.exists():
            problems.append(f"{link}: no such file")
        elif anchor and path.suffix == ".md" and anchor not in anchors(path):
            problems.append(f"{link}: no heading #{anchor} in {path.relative_to(ROOT)}")
    assert not problems, "\n".join(problems)


def test_the_link_check_catches_bad_links(tmp_path):
    page = DOCS / "campaigns.md"
    assert local_target(page, "https://example.com/x") is None
    outside, _ = local_target(page, "../" + OUTSIDE + "/x.md")
    assert not outside.is_relative_to(ROOT)
    missing, _ = local_target(page, "nowhere.md")
    assert not missing.exists()
    assert "no-such-heading" not in anchors(page) and "whendnd" in anchors(page)


def test_no_file_in_the_repository_points_at_the_design_notes_outside_it():
    files = repo_files()
    assert ROOT / "README.md" in files
    present = {p.name for p in files}
    offenders = []
    for path in files:
        text = text_of(path)
        if text is None:
            continue
        names = [OUTSIDE] + [n for n in DESIGN_NOTES if n not in present]
        for number, line in enumerate(text.splitlines(), start=1):
            if any(name in line for name in names):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def code_names(page: str) -> set[str]:
    """Every `name` written in backticks on a page (`a.b` also gives `b`)."""
    names = set()
    for quoted in re.findall(r"`([^`\n]+)`", page):
        names.add(quoted)
        names.update(re.split(r"[.:\s{},\[\]]+", quoted))
    return names


@pytest.mark.parametrize("page, keys", [
    ("campaigns.md", loader.CAMPAIGN_KEYS + ("on", "unless", "segment") + who.SEGMENT_HEADS + who.DID_KEYS
     + ("event", "where", "date", "offset", "at", "within", "match") + when.WHEN_KEYS + when.SCHEDULE_KEYS
     + when.LIMITS_KEYS + ("max", "per", "from", "to", "then") + what.WHAT_KEYS + what.URGENCIES
     + ("action", "revenue") + OPERATORS + loader.STATUSES),
    ("config.md", config.CONFIG_KEYS + ("key", "subject", "host", "rate", "burst")),
    ("campaign-tests.md", testfile.SUITE_KEYS + testfile.CASE_KEYS + testfile.EVENT_KEYS + testfile.EXPECT_KEYS),
])
def test_the_reference_names_every_key_the_loader_accepts(page: str, keys: tuple[str, ...]):
    named = code_names((DOCS / page).read_text(encoding="utf-8"))
    missing = sorted({k for k in keys if k not in named})
    assert not missing, f"docs/{page} does not name {missing}"


def yaml_blocks(page: str) -> list[str]:
    return re.findall(r"^```yaml\n(.*?)^```", (DOCS / page).read_text(encoding="utf-8"), re.MULTILINE | re.DOTALL)


def test_the_complete_campaigns_in_the_reference_load():
    whole = [b for b in yaml_blocks("campaigns.md") if b.startswith("campaign:") and "\nwhat:" in b]
    assert whole
    for block in whole:
        assert parse_campaign(block, "docs/campaigns.md").id


def test_every_example_in_the_config_reference_loads():
    blocks = yaml_blocks("config.md")
    assert len(blocks) >= len(config.CONFIG_KEYS) - 1  # one example a key (vapid's two share one)
    for block in blocks:
        parse_config(block, "docs/config.md")


def test_the_example_event_file_settings_load():
    found = config.load_config(ROOT / "examples" / "pushcast.yaml")
    assert found.push_services and found.push_services[0].host.startswith("http://127.0.0.1")


def test_the_step_by_step_campaign_checks_passes_its_tests_and_backtests(tmp_path):
    import io
    import shutil
    import textwrap

    from engine.core import CampaignSet
    from engine.rules.check import run_check
    from engine.rules.loader import load_campaigns
    from engine.testing.backtest import backtest
    from engine.testing.runner import run_test_files

    page = (DOCS / "campaigns.md").read_text(encoding="utf-8")
    blocks = [textwrap.dedent(body) for _, body in re.findall(r"^( +)```yaml\n(.*?)^\1```", page,
                                                              re.MULTILINE | re.DOTALL)]
    campaign = next(b for b in blocks if b.startswith("campaign: review-request"))
    tests = next(b for b in blocks if b.startswith("campaigns: [../review-request.yaml]"))
    (tmp_path / "campaigns.d" / "tests").mkdir(parents=True)
    shutil.copy(ROOT / "pushcast.yaml", tmp_path / "pushcast.yaml")
    (tmp_path / "campaigns.d" / "review-request.yaml").write_text(campaign)
    test_file = tmp_path / "campaigns.d" / "tests" / "review-request.test.yaml"
    test_file.write_text(tests)
    out = io.StringIO()
    assert run_check([tmp_path / "campaigns.d", test_file], out) == 0, out.getvalue()
    out = io.StringIO()
    assert run_test_files([test_file], out) == 0, out.getvalue()
    assert "SUCCESS: 2 cases" in out.getvalue()
    report = backtest(CampaignSet(load_campaigns([tmp_path / "campaigns.d"])), ROOT / "examples" / "events.ndjson")
    assert report.qualified["review-request"] > 0 and report.notifications


def test_the_complete_example_is_the_example_campaign_file():
    page = (DOCS / "campaigns.md").read_text(encoding="utf-8")
    shown = re.search(r"^`campaigns\.d/abandoned-cart\.yaml`.*?\n\n```yaml\n(.*?)^```", page,
                      re.MULTILINE | re.DOTALL)
    assert shown, "docs/campaigns.md no longer shows campaigns.d/abandoned-cart.yaml"
    lines = (ROOT / "campaigns.d" / "abandoned-cart.yaml").read_text(encoding="utf-8").splitlines(keepends=True)
    while lines and lines[0].startswith("#"):  # a leading comment (an editor's schema line) is not shown
        lines.pop(0)
    assert shown.group(1) == "".join(lines)


def test_the_campaign_test_example_passes_beside_the_example_campaigns(tmp_path):
    import io
    import shutil

    from engine.testing.runner import run_test_files

    example = next(b for b in yaml_blocks("campaign-tests.md") if b.startswith("campaigns:"))
    shutil.copytree(ROOT / "campaigns.d", tmp_path / "campaigns.d")
    shutil.copy(ROOT / "pushcast.yaml", tmp_path / "pushcast.yaml")
    path = tmp_path / "campaigns.d" / "tests" / "example.test.yaml"
    path.write_text(example)
    out = io.StringIO()
    assert run_test_files([path], out) == 0, out.getvalue()
    assert "SUCCESS: 2 cases" in out.getvalue()


def test_every_metric_the_reference_names_is_declared():
    declared = set(re.findall(r'"(pushcast_[a-z_]+)"', (ROOT / "engine" / "shell" / "metrics.py").read_text()))
    assert "pushcast_sends_total" in declared
    # Whole names only: the README's shorthands (`pushcast_events_{accepted,rejected}_total`) are skipped.
    whole = re.compile(r"\bpushcast_[a-z_]*[a-z](?![a-z_{*])")
    named = {m for page in PAGES for m in whole.findall(page.read_text(encoding="utf-8"))}
    assert "pushcast_config_last_reload_successful" in named
    unknown = sorted(named - declared)
    assert not unknown, f"named in the docs, declared nowhere: {unknown}"


# Files the reader makes by following the docs (the step-by-step campaign, the Compose key).
MADE_BY_THE_READER = ("campaigns.d/review-request.yaml", "campaigns.d/tests/review-request.test.yaml",
                      "deploy/etc/vapid_private.pem", "deploy/etc/track_secret")


def test_every_repository_path_the_reference_names_exists():
    tops = {p.name for p in ROOT.iterdir() if p.is_dir() and not p.name.startswith(".")}
    path = re.compile(r"`([A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)+/?)`")
    missing = []
    for page in PAGES:
        for name in path.findall(page.read_text(encoding="utf-8")):
            if name.split("/")[0] in tops and not (ROOT / name).exists() and \
                    not name.startswith(MADE_BY_THE_READER):
                missing.append(f"{page.relative_to(ROOT)}: {name}")
    assert "engine" in tops and not missing, "\n".join(missing)
