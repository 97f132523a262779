"""What the declaration (engine/rules/declared.py) derives: JSON Schemas and docs tables.

    python -m engine.rules.reference --write    # rewrite the schemas and the docs' key tables
    python -m engine.rules.reference --check    # exit 1 if either drifted (CI runs this as a test)

A docs key table is the table right after a `<!-- keys: NAME -->` line, NAME being a
declared mapping. Everything else in the docs is written by hand.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from engine.rules.declare import Key, Kind, ListOf, Obj, OneOf, Ref, Value
from engine.rules.declared import FORMATS, SEGMENT

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
DOCS = ("docs/campaigns.md", "docs/config.md", "docs/campaign-tests.md")
MARKER = re.compile(r"<!-- keys: ([a-z-]+) -->")


def schema_path(name: str) -> Path:
    return SCHEMA_DIR / f"{name}.schema.json"


# --- JSON Schema (draft-07: what editors' YAML plugins support best) -------------------

def json_schema(name: str) -> dict:
    root = FORMATS[name]
    definitions: dict[str, dict] = {}
    _define(root, definitions)
    body = definitions.pop(root.name)
    return {"$schema": "http://json-schema.org/draft-07/schema#", "title": root.title or name, **body,
            "definitions": dict(sorted(definitions.items()))}


def _define(value: Value, definitions: dict) -> dict:
    """The schema of `value`; named mappings and unions go to `definitions` once."""
    if isinstance(value, Kind):
        return dict(value.schema)
    if isinstance(value, Ref):
        return {"$ref": f"#/definitions/{value.name}"}
    if isinstance(value, ListOf):
        schema = {"type": "array", "items": _define(value.item, definitions)}
        if value.min_items:
            schema["minItems"] = value.min_items
        if value.max_items is not None:
            schema["maxItems"] = value.max_items
        return schema
    if value.name not in definitions:
        definitions[value.name] = {}  # a placeholder first: segments refer to themselves
        definitions[value.name] = _object(value, definitions) if isinstance(value, Obj) else \
            {"anyOf": [_define(option, definitions) for option in value.options]}
    return {"$ref": f"#/definitions/{value.name}"}


def _object(obj: Obj, definitions: dict) -> dict:
    properties = {}
    for key in obj.keys:
        schema = _define(key.kind, definitions)
        # draft-07 ignores the siblings of a $ref: wrap it to keep the description.
        schema = {"allOf": [schema]} if "$ref" in schema else schema
        properties[key.name] = {"description": _plain(key.meaning), **schema}
    schema: dict = {"type": "object", "properties": properties, "additionalProperties": False}
    if obj.required:
        schema["required"] = list(obj.required)
    if obj.one_of:
        schema["anyOf"] = [{"required": [name]} for name in obj.one_of]
    return schema


def _plain(markdown: str) -> str:
    """Docs text for an editor's tooltip: no backticks, links as their text."""
    return re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", markdown).replace("`", "")


def rendered_schema(name: str) -> str:
    return json.dumps(json_schema(name), indent=2, ensure_ascii=False) + "\n"


# --- docs key tables -------------------------------------------------------------------

def declared_objects() -> dict[str, Obj]:
    """Every declared mapping by name, reachable from the three file formats."""
    found: dict[str, Obj] = {}

    def walk(value: Value) -> None:
        if isinstance(value, Obj):
            if value.name in found:
                return
            found[value.name] = value
            for key in value.keys:
                walk(key.kind)
        elif isinstance(value, OneOf):
            for option in value.options:
                walk(option)
        elif isinstance(value, ListOf):
            walk(value.item)

    for root in FORMATS.values():
        walk(root)
    walk(SEGMENT)
    return found


def key_table(obj: Obj) -> list[str]:
    with_required = any(key.required or key.needed for key in obj.keys)
    with_default = any(key.default for key in obj.keys)
    header = ["Key"] + ["Required"] * with_required + ["Default"] * with_default + ["Meaning"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for key in obj.keys:
        cells = [_key_cell(key)] + [key.required_text] * with_required + [key.default] * with_default + [key.meaning]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _key_cell(key: Key) -> str:
    return f"[`{key.name}`](#{key.link})" if key.link else f"`{key.name}`"


def with_tables(text: str, objects: dict[str, Obj]) -> str:
    """`text` with each marked table replaced by the declaration's; KeyError: unknown name."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        out.append(lines[i])
        marker = MARKER.fullmatch(lines[i].strip())
        i += 1
        if marker is None:
            continue
        while i < len(lines) and lines[i].startswith("|"):
            i += 1  # the old table
        out.extend(key_table(objects[marker.group(1)]))
    return "\n".join(out)


# --- write / check ---------------------------------------------------------------------

def expected_files() -> dict[Path, str]:
    objects = declared_objects()
    files = {schema_path(name): rendered_schema(name) for name in FORMATS}
    for doc in DOCS:
        path = ROOT / doc
        files[path] = with_tables(path.read_text(encoding="utf-8"), objects)
    return files


def drifted() -> list[Path]:
    return [path for path, text in expected_files().items()
            if not path.exists() or path.read_text(encoding="utf-8") != text]


def main(argv: list[str]) -> int:
    if argv == ["--write"]:
        SCHEMA_DIR.mkdir(exist_ok=True)
        for path, text in expected_files().items():
            path.write_text(text, encoding="utf-8")
        return 0
    if argv == ["--check"]:
        stale = drifted()
        for path in stale:
            print(f"{path.relative_to(ROOT)}: out of date with engine/rules/declared.py; run "
                  f"python -m engine.rules.reference --write", file=sys.stderr)
        return 1 if stale else 0
    print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
