"""engine/testing drives the runtimes as processes (HTTP, Kafka), never by importing
them: a test of a runtime that shared its code would prove nothing about the process."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTING = Path(__file__).resolve().parents[3] / "engine" / "testing"
FORBIDDEN = ("engine.local", "engine.agents")


def imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", sorted(TESTING.glob("*.py")), ids=lambda p: p.name)
def test_engine_testing_imports_no_runtime(path):
    bad = sorted(n for n in imported(path) if any(n == f or n.startswith(f + ".") for f in FORBIDDEN))
    assert not bad, f"{path}: imports {bad}; drive the runtime as a process instead"


def test_the_check_sees_both_import_forms(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("import engine.agents.app\nfrom engine.local.runtime import Runtime\n")
    assert {"engine.agents.app", "engine.local.runtime"} <= imported(source)
