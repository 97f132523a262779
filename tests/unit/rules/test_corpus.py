"""The bad-input corpus: each `*.bad.yaml` holds one mistake and names the one problem
(`# expect: line:col: path: message`) that loading it must report; each `*.good.yaml`
loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.rules.errors import ConfigError
from engine.rules.loader import load_campaign_file

CORPUS = Path(__file__).parents[1] / "corpus"
BAD = sorted(CORPUS.glob("*.bad.yaml"))
GOOD = sorted(CORPUS.glob("*.good.yaml"))
EXPECT = "# expect: "


def short(problem) -> str:
    """The problem without its file and campaign, as the expect comments spell it."""
    where = f"{problem.position.line}:{problem.position.col}: " if problem.position else ""
    path = f"{problem.path}: " if problem.path else ""
    return where + path + problem.message


def test_corpus_is_large_enough():
    assert len(BAD) >= 25
    assert len(GOOD) >= 3


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.name.removesuffix(".bad.yaml"))
def test_corpus_bad_file_reports_exactly_its_mistake(path: Path):
    first_line = path.read_text(encoding="utf-8").splitlines()[0]
    assert first_line.startswith(EXPECT), f"{path.name}: first line must be '{EXPECT}...'"
    expected = first_line.removeprefix(EXPECT)
    with pytest.raises(ConfigError) as raised:
        load_campaign_file(path)
    problems = raised.value.problems
    assert [short(p) for p in problems] == [expected]
    assert problems[0].position.file == str(path)
    assert str(problems[0]).startswith(f"{path}:{expected.split(':')[0]}:")


@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.name.removesuffix(".good.yaml"))
def test_corpus_good_file_loads(path: Path):
    campaign = load_campaign_file(path)
    assert campaign.id
    assert campaign.position.file == str(path)
