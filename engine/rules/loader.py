"""Load campaign files: parse, validate every field, report every problem at once.

`collect_campaigns` is the one code path: `load_campaigns` (the engine) raises on its
problems, `pushcast check` prints them per file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import timezone
from pathlib import Path

from engine.rules.declared import CAMPAIGN
from engine.rules.errors import ConfigError, Problem
from engine.rules.fields import At, Checker, kind
from engine.rules.model import Campaign, Position, When
from engine.rules.parse import check_zone, zone
from engine.rules.what import read_conversion, read_what
from engine.rules.when import read_when
from engine.rules.who import read_who
from engine.rules.yamlpos import YMap, read_yaml

CAMPAIGN_KEYS = CAMPAIGN.names
STATUSES = ("active", "paused")
CAMPAIGN_SUFFIXES = (".yaml", ".yml")
NOT_CAMPAIGNS = ("pushcast.yaml", "pushcast.yml")  # the global config may sit beside campaigns
_CAMPAIGN_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")


@dataclass
class FileResult:
    """One campaign file: its campaign if valid, else its problems."""

    path: str
    campaign: Campaign | None = None
    problems: list[Problem] = field(default_factory=list)


def campaign_files(paths: list[Path]) -> tuple[list[Path], list[Problem]]:
    """Files named directly, and the top-level `*.yaml`/`*.yml` of folders, sorted.

    Sub-folders (such as `campaigns.d/tests/`), dotfiles, pushcast.yaml and campaign test
    files (`*.test.yaml`) in a folder are not campaigns.
    """
    files: list[Path] = []
    problems: list[Problem] = []
    seen: set[Path] = set()
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.iterdir()
                           if p.suffix in CAMPAIGN_SUFFIXES and p.is_file()
                           and not p.name.startswith(".") and p.name not in NOT_CAMPAIGNS
                           and not p.name.endswith((".test.yaml", ".test.yml")))
            outside = [p for p in found if _leaves(p, path)]
            for link in outside:
                # Refused by name only: the target may be any file the server can read.
                problems.append(Problem(None, None, "", "a symlink to a file outside the campaign folder; "
                                        "copy the file in instead", file=str(link)))
            found = [p for p in found if p not in outside]
        elif path.exists():
            found = [path]
        else:
            problems.append(Problem(None, None, "", "no such file or folder", file=str(path)))
            continue
        for file in found:
            key = file.resolve()
            if key not in seen:
                seen.add(key)
                files.append(file)
    return files, problems


def _leaves(file: Path, folder: Path) -> bool:
    """A symlink (or a link in its chain) that ends outside `folder`."""
    if not file.is_symlink():
        return False
    return not file.resolve().is_relative_to(folder.resolve())


def collect_campaigns(paths: list[Path]) -> tuple[list[FileResult], list[Problem]]:
    """Load every campaign file: (per-file results, problems not tied to one file).

    Duplicate ids across files are problems of the later file, naming the earlier one.
    """
    files, general = campaign_files(paths)
    results = [load_file(path) for path in files]
    first_by_id: dict[str, FileResult] = {}
    for result in results:
        campaign = result.campaign
        if campaign is None:
            continue
        earlier = first_by_id.get(campaign.id)
        if earlier is None:
            first_by_id[campaign.id] = result
            continue
        where = earlier.campaign.position or earlier.path
        result.problems.append(Problem(campaign.position, campaign.id, "campaign",
                                       f"duplicate campaign id, also defined in {where}", file=result.path))
        result.campaign = None
    return results, general


def load_campaigns(paths: list[Path]) -> tuple[Campaign, ...]:
    """All campaigns of these files and folders; ConfigError listing every problem."""
    results, problems = collect_campaigns(paths)
    problems = problems + [p for r in results for p in r.problems]
    if problems:
        raise ConfigError(problems)
    return tuple(r.campaign for r in results)


def load_campaign_file(path: Path) -> Campaign:
    """One campaign file; ConfigError listing every problem."""
    result = load_file(Path(path))
    if result.problems:
        raise ConfigError(result.problems)
    return result.campaign


def load_file(path: Path) -> FileResult:
    display = str(path)
    value, doc_pos, text, problems = read_yaml(path, display)
    result = FileResult(display)
    if value is None and problems:
        result.problems = problems
        return result
    ck = Checker(display, text=text)
    campaign = read_campaign(ck, At(value, doc_pos, ""))
    # YAML-level problems (duplicate keys) were found before the id was known.
    result.problems = sort_problems([replace(p, campaign=ck.campaign) for p in problems] + ck.problems)
    result.campaign = campaign if not result.problems else None
    return result


def parse_campaign(text: str, file: str = "<campaign>") -> Campaign:
    """A campaign from YAML text (tests, tools); ConfigError listing every problem."""
    from engine.rules.yamlpos import parse_yaml

    value, pos, problems = parse_yaml(text, file)
    if value is None and problems:
        raise ConfigError(problems)
    ck = Checker(file, text=text)
    campaign = read_campaign(ck, At(value, pos, ""))
    problems = sort_problems([replace(p, campaign=ck.campaign) for p in problems] + ck.problems)
    if problems:
        raise ConfigError(problems)
    return campaign


def sort_problems(problems: list[Problem]) -> list[Problem]:
    """In file order, so the output reads top to bottom (stable for equal positions)."""
    return sorted(problems, key=Problem.sort_key)


def read_campaign(ck: Checker, at: At) -> Campaign | None:
    if not isinstance(at.value, YMap):
        ck.error(at.pos, "", f"expected a campaign (a mapping with campaign, who, when, what), got {kind(at.value)}")
        return None
    m = at.value
    campaign_id, id_pos = read_id(ck, at)
    ck.campaign = campaign_id
    ck.declared(at, CAMPAIGN)
    name = ck.text(at.child("name")) if "name" in m else campaign_id
    status = ck.choice(at.child("status"), STATUSES) if "status" in m else "active"
    zone_name = ck.check(at.child("timezone"), check_zone) if "timezone" in m else "UTC"
    tz = zone(zone_name) if zone_name else timezone.utc  # keep checking the rest in UTC

    trigger = unless = segment = None
    if "who" in m:
        trigger, unless, segment = read_who(ck, at.child("who"), tz)
    live = _has(m, "who", "on")
    scheduled = _has(m, "when", "schedule")
    when = read_when(ck, at.child("when"), tz, live=live) if "when" in m else None
    what = read_what(ck, at.child("what")) if "what" in m else None
    conversion = read_conversion(ck, at.child("conversion")) if "conversion" in m else None

    if what is not None and what.winner is not None and what.winner.metric == "conversions" and \
            "conversion" not in m:
        ck.error(m["what"]["winner"].value_pos["metric"], "what.winner.metric",
                 "conversions need the campaign's `conversion` (which event converts, within what window)")
    if live and scheduled:
        ck.error(m["when"].key_pos["schedule"], "when.schedule",
                 "a campaign with who.on is live (it sends on events); remove who.on or when.schedule")
    elif not live and not scheduled:
        ck.error(at.pos, "", "never sends: add who.on (a live trigger) or when.schedule (a scheduled send)")
    if ck.problems or campaign_id is None or what is None:
        return None
    return Campaign(
        id=campaign_id, name=name, what=what, status=status, trigger=trigger, unless=unless,
        segment=segment, when=when or When(), conversion=conversion, timezone=zone_name,
        position=id_pos,
    )


def read_id(ck: Checker, at: At) -> tuple[str | None, Position | None]:
    if "campaign" not in at.value:
        return None, None
    id_at = at.child("campaign")
    value = id_at.value
    if not isinstance(value, str) or not _CAMPAIGN_ID.fullmatch(value):
        ck.error(id_at.pos, "campaign",
                 f"expected an id of lowercase letters, digits and dashes like abandoned-cart, got {kind(value)}")
        return None, id_at.pos
    return value, id_at.pos


def _has(m: YMap, section: str, key: str) -> bool:
    return isinstance(m.get(section), YMap) and key in m[section]

