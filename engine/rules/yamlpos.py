"""Safe YAML loading that keeps the line and column of every key and value.

ruamel composes the node tree (with marks); we build plain dicts and lists from it, and
remember positions beside them, so validation can point at the exact key or value.
Only the YAML core types are accepted: custom tags (`!!python/...`) are refused, and
timestamps stay strings because pushcast reads datetimes itself (an offset-less datetime
means the campaign's time zone, which YAML cannot know). Duplicate keys are problems,
not silent overwrites.

Hostile files are bounded: anchors and aliases are refused (a few hundred bytes of
nested aliases expand to billions of nodes), nesting is capped at `MAX_DEPTH`, files at
`MAX_FILE_BYTES`, so loading is linear in a file no bigger than the cap. Campaign test
files, which repeat subscriptions with `&sub`/`*sub`, may use aliases within a budget
of `MAX_ALIASED_VALUES` built values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.composer import Composer, ComposerError, MaxDepthExceededError
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from engine.rules.errors import EXCERPT as ERRORS_EXCERPT, Problem
from engine.rules.model import Position

_TAG = "tag:yaml.org,2002:"
_PLAIN_TAGS = {_TAG + "str", _TAG + "timestamp"}
_CONSTRUCTED_TAGS = {_TAG + "int", _TAG + "float", _TAG + "bool", _TAG + "null"}
MAX_FILE_BYTES = 1024 * 1024  # a campaign is a page of YAML; this is a thousand of them
MAX_DEPTH = 64  # campaigns nest a handful of levels; deeper is junk (and recursion)
EXCERPT = ERRORS_EXCERPT  # characters of a file's text an error may quote
MAX_ALIASED_VALUES = 100_000  # values an alias-using file may expand to


class _TooBig(Exception):
    def __init__(self, node: Node | None, message: str):
        self.node = node
        self.message = message


def excerpt(text: str, limit: int = EXCERPT) -> str:
    """At most `limit` characters of `text`, on one line: errors quote, never echo."""
    text = text.replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _NoAliasComposer(Composer):
    """Refuses anchors and aliases where they appear, with their position."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.parser.peek_event()
        if isinstance(event, AliasEvent):
            raise ComposerError(None, None, f"aliases (*{excerpt(str(event.anchor), 20)}) are not supported; "
                                "write the value out", event.start_mark)
        if getattr(event, "anchor", None) is not None:
            raise ComposerError(None, None, f"anchors (&{excerpt(str(event.anchor), 20)}) are not supported; "
                                "write the value out", event.start_mark)
        return super().compose_node(parent, index)


class YMap(dict):
    """A mapping with `pos` (where it starts), `key_pos[k]` and `value_pos[k]`."""

    __slots__ = ("pos", "key_pos", "value_pos")

    def __init__(self, pos: Position):
        super().__init__()
        self.pos = pos
        self.key_pos: dict[Any, Position] = {}
        self.value_pos: dict[Any, Position] = {}


class YList(list):
    """A sequence with `pos` and `item_pos[i]`."""

    __slots__ = ("pos", "item_pos")

    def __init__(self, pos: Position):
        super().__init__()
        self.pos = pos
        self.item_pos: list[Position] = []


class _Builder:
    def __init__(self, file: str, constructor: Any, text: str = ""):
        self.file = file
        self.text = text
        self.constructor = constructor
        self.problems: list[Problem] = []
        # Aliases share nodes, so the built tree can outgrow the text: count and cap it.
        self.budget = MAX_ALIASED_VALUES
        self.depth = 0

    def pos(self, node: Node) -> Position:
        mark = node.start_mark
        return Position(self.file, mark.line + 1, mark.column + 1)

    def problem(self, node: Node, message: str) -> None:
        self.problems.append(Problem(self.pos(node), None, "", message))

    def build(self, node: Node) -> Any:
        self.budget -= 1
        if self.budget < 0:  # the node is shared by many aliases: no one place to blame
            raise _TooBig(None, f"aliases expand to more than {MAX_ALIASED_VALUES:,} values")
        if isinstance(node, ScalarNode):
            return self.scalar(node)
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:  # a recursive alias (`&a [*a]`) is endless depth
                raise _TooBig(node, f"nested more than {MAX_DEPTH} levels deep")
            return self.collection(node)
        finally:
            self.depth -= 1

    def collection(self, node: Node) -> Any:
        if isinstance(node, MappingNode):
            return self.mapping(node)
        if isinstance(node, SequenceNode):
            self.check_tag(node, _TAG + "seq")
            out = YList(self.pos(node))
            for item in node.value:
                out.append(self.build(item))
                out.item_pos.append(self.pos(item))
            return out
        return self.scalar(node)

    def mapping(self, node: MappingNode) -> YMap | str:
        if _looks_like_template(node):
            # `title: {{ event.x }}` is a mapping in YAML: say so once, keep the text.
            source = self.text[node.start_mark.index:node.end_mark.index]
            self.problem(node, f"quote a value that starts with {{{{: write \"{excerpt(source)}\"")
            return source
        self.check_tag(node, _TAG + "map")
        out = YMap(self.pos(node))
        for key_node, value_node in node.value:
            if key_node.tag == _TAG + "merge":
                self.problem(key_node, "merge keys (<<) are not supported; write the keys out")
                continue
            key = self.build(key_node)
            if isinstance(key, (YMap, YList)):
                self.problem(key_node, "a key must be plain text, not a mapping or a list")
                continue
            if key in out:
                first = out.key_pos[key]
                self.problem(key_node, f'duplicate key "{key}" (first at line {first.line})')
                continue
            out[key] = self.build(value_node)
            out.key_pos[key] = self.pos(key_node)
            out.value_pos[key] = self.pos(value_node)
        return out

    def scalar(self, node: ScalarNode) -> Any:
        if node.tag in _PLAIN_TAGS:
            return node.value
        if node.tag in _CONSTRUCTED_TAGS:
            try:
                return self.constructor.construct_object(node, deep=True)
            except (ValueError, IndexError, YAMLError):  # an integer of 4,300+ digits; `!!int ""`
                self.problem(node, f"not a usable {node.tag.replace(_TAG, '!!')}: {excerpt(node.value, 20) or '(empty)'}")
                return None
        self.problem(node, f"unsupported YAML tag {node.tag.replace(_TAG, '!!')}")
        return node.value

    def check_tag(self, node: Node, expected: str) -> None:
        if node.tag != expected:
            self.problem(node, f"unsupported YAML tag {node.tag.replace(_TAG, '!!')}")


def _looks_like_template(node: MappingNode) -> bool:
    """`{{ x }}` unquoted: a flow mapping whose one key is itself a flow mapping."""
    if not node.flow_style or len(node.value) != 1:
        return False
    key, value = node.value[0]
    return isinstance(key, MappingNode) and key.flow_style and isinstance(value, ScalarNode) and value.value == ""


def parse_yaml(text: str, file: str, *, aliases: bool = False) -> tuple[Any, Position, list[Problem]]:
    """Parse one YAML document: (value, position of the document, problems).

    A syntax error is a single problem at its mark (YAML cannot resume after one); the
    value is then None. `aliases`: allow anchors and aliases, within a budget.
    """
    yaml = YAML(typ="safe", pure=True)
    if not aliases:
        yaml.Composer = _NoAliasComposer
    yaml.max_depth = MAX_DEPTH
    start = Position(file, 1, 1)
    try:
        node = yaml.compose(text)
    except MaxDepthExceededError as exc:
        mark = exc.problem_mark
        pos = Position(file, mark.line + 1, mark.column + 1) if mark else start
        return None, pos, [Problem(pos, None, "", f"invalid YAML: nested more than {MAX_DEPTH} levels deep")]
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        pos = Position(file, mark.line + 1, mark.column + 1) if mark else start
        message = exc.problem or exc.context or "invalid YAML"
        if exc.context and exc.problem:
            message = f"{exc.problem} ({exc.context})"
        return None, pos, [Problem(pos, None, "", f"invalid YAML: {excerpt(message, 200)}")]
    except YAMLError as exc:  # unmarked errors are rare (e.g. a bad stream)
        return None, start, [Problem(start, None, "", f"invalid YAML: {excerpt(str(exc), 200)}")]
    if node is None:
        return None, start, []
    builder = _Builder(file, yaml.constructor, text)
    try:
        value = builder.build(node)
    except _TooBig as exc:
        where = builder.pos(exc.node) if exc.node is not None else start
        return None, start, [Problem(where, None, "", f"invalid YAML: {exc.message}")]
    return value, builder.pos(node), builder.problems


def read_yaml(path: Path, display: str | None = None, *, aliases: bool = False
              ) -> tuple[Any, Position, str, list[Problem]]:
    """Read and parse a file: (value, document position, text, problems)."""
    file = display if display is not None else str(path)
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)  # never more than the cap into memory
        if len(raw) > MAX_FILE_BYTES:
            return None, Position(file, 1, 1), "", [Problem(
                None, None, "", f"larger than {MAX_FILE_BYTES // 1024} KiB, the limit for a pushcast YAML file",
                file=file)]
        # As `read_text` reads: universal newlines (positions count lines the same way).
        text = raw.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    except FileNotFoundError:
        return None, Position(file, 1, 1), "", [Problem(None, None, "", "no such file", file=file)]
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return None, Position(file, 1, 1), "", [Problem(None, None, "", f"cannot read: {reason}", file=file)]
    value, pos, problems = parse_yaml(text, file, aliases=aliases)
    return value, pos, text, problems


def plain(value: Any) -> Any:
    """Drop the position bookkeeping: plain dicts and lists, for data that leaves the loader."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value
