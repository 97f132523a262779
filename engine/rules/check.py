"""`pushcast check [PATH...]`: the loader's own code path, for humans and pre-deploy hooks.

Campaign files are loaded exactly as the engine loads them; files named `pushcast.yaml`
(given directly or found at the top of a given folder) are checked as the global config,
and files named `*.test.yaml` given directly as campaign test files.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO

from engine.rules.config import CONFIG_NAMES, load_config
from engine.rules.errors import ConfigError
from engine.rules.loader import collect_campaigns
from engine.rules.testfile import load_test_file

TEST_SUFFIXES = (".test.yaml", ".test.yml")


def run_check(paths: list[Path], out: IO[str]) -> int:
    """Print each file and its verdict, then every problem; 0 when all is well, else 1."""
    paths = [Path(p) for p in paths]
    config_files = _config_files(paths)
    test_files = [p for p in paths if p.name.endswith(TEST_SUFFIXES) and p.is_file()]
    campaign_paths = [p for p in paths if p not in config_files and p not in test_files]
    results, problems = collect_campaigns(campaign_paths)
    campaigns = 0
    for result in results:
        if result.campaign is not None:
            campaigns += 1
            out.write(f"  {result.path}: ok ({result.campaign.id})\n")
        else:
            out.write(f"  {result.path}: {_count(len(result.problems))}\n")
        problems.extend(result.problems)
    for path, load, kind in [(p, load_config, "global config") for p in config_files] + \
                            [(p, load_test_file, "campaign tests") for p in test_files]:
        try:
            load(path)
            out.write(f"  {path}: ok ({kind})\n")
        except ConfigError as error:
            out.write(f"  {path}: {_count(len(error.problems))}\n")
            problems.extend(error.problems)
    if problems:
        for problem in problems:
            out.write(f"{problem}\n")
        out.write(f"FAILED: {_count(len(problems))}\n")
        return 1
    out.write(f"SUCCESS: {campaigns} campaign{'s' if campaigns != 1 else ''}\n")
    return 0


def _config_files(paths: list[Path]) -> list[Path]:
    found = [p for p in paths if p.name in CONFIG_NAMES and p.is_file()]
    for folder in (p for p in paths if p.is_dir()):
        found.extend(folder / name for name in CONFIG_NAMES if (folder / name).is_file())
    return found


def _count(n: int) -> str:
    return f"{n} error{'s' if n != 1 else ''}"

