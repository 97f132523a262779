"""Validation helpers shared by the campaign, config and test-file loaders.

`At` is a value with its position and dotted path; `Checker` collects problems for one
file and reads typed fields, returning None (after recording a problem) instead of
raising, so one run reports every mistake.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Callable, Iterator, TypeVar

from engine.rules.declare import Obj
from engine.rules.errors import Problem
from engine.rules.model import Position
from engine.rules.parse import BadValue, describe, format_duration, parse_duration
from engine.rules.yamlpos import YList, YMap

T = TypeVar("T")


@dataclass(slots=True)
class At:
    """A value read from YAML, where it is, and its dotted path (`what.actions[0].url`)."""

    value: Any
    pos: Position
    path: str
    key: Position | None = None  # where the key that holds this value is

    def child(self, key: str) -> "At":
        m = self.value
        return At(m[key], m.value_pos[key], join(self.path, key), m.key_pos[key])

    @property
    def head(self) -> Position:
        """The key's position if any (a missing key is reported at its parent's key)."""
        return self.key or self.pos

    def key_pos(self, key: str) -> Position:
        return self.value.key_pos[key]

    def items(self) -> Iterator["At"]:
        for i, (item, pos) in enumerate(zip(self.value, self.value.item_pos)):
            yield At(item, pos, f"{self.path}[{i}]")


def join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def kind(value: Any) -> str:
    """`a mapping`, `a list`, or the quoted value: what we found instead."""
    return describe(value)


class Checker:
    """Collects the problems of one file; `campaign` names the campaign once known."""

    def __init__(self, file: str, campaign: str | None = None, text: str = ""):
        self.file = file
        self.campaign = campaign
        self.lines = text.splitlines()
        self.problems: list[Problem] = []

    def locate(self, at: At, offset: int) -> Position:
        """The position of character `offset` inside the scalar at `at`, when the file
        spells it verbatim on one line (plain or quoted without escapes); else `at.pos`."""
        if offset <= 0 or at.pos.line > len(self.lines) or not isinstance(at.value, str):
            return at.pos
        line = self.lines[at.pos.line - 1]
        start = at.pos.col - 1
        if line[start:start + 1] in ('"', "'"):
            start += 1
        prefix = at.value[:offset]
        if "\n" in prefix or line[start:start + offset] != prefix:
            return at.pos
        return Position(at.pos.file, at.pos.line, start + offset + 1)

    def error(self, pos: Position | None, path: str, message: str) -> None:
        self.problems.append(Problem(pos, self.campaign, path, message, file=self.file))

    def check(self, at: At, convert: Callable[[Any], T]) -> T | None:
        """Apply a parser from engine.rules.parse; a BadValue becomes a problem."""
        try:
            return convert(at.value)
        except BadValue as exc:
            self.error(at.pos, at.path, str(exc))
            return None

    # --- structure -------------------------------------------------------------------

    def mapping(self, at: At, allowed: tuple[str, ...], required: tuple[str, ...] = (),
                example: str = "") -> bool:
        """A mapping with only `allowed` keys and all `required` ones; False if not a mapping."""
        if not isinstance(at.value, YMap):
            hint = f" like {example}" if example else f" with keys {', '.join(allowed)}"
            self.error(at.pos, at.path, f"expected a mapping{hint}, got {kind(at.value)}")
            return False
        for key in at.value:
            if key not in allowed:
                self.error(at.key_pos(key), join(at.path, key), unknown_key_message(key, allowed))
        for key in required:
            if key not in at.value:
                self.error(at.head, at.path, f'missing required key "{key}"')
        return True

    def declared(self, at: At, obj: Obj) -> bool:
        """A mapping with the keys `obj` declares (engine/rules/declared.py)."""
        return self.mapping(at, obj.names, obj.required, example=obj.example)

    def sequence(self, at: At, example: str = "") -> bool:
        if not isinstance(at.value, YList):
            hint = f" like {example}" if example else ""
            self.error(at.pos, at.path, f"expected a list{hint}, got {kind(at.value)}")
            return False
        return True

    # --- scalars ---------------------------------------------------------------------

    def text(self, at: At, *, allow_empty: bool = False) -> str | None:
        value = at.value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)  # `name: 2026` is text to the user, not a number
        if not isinstance(value, str):
            self.error(at.pos, at.path, f"expected text, got {kind(at.value)}")
            return None
        if not allow_empty and not value.strip():
            self.error(at.pos, at.path, "must not be empty")
            return None
        return value

    def boolean(self, at: At) -> bool | None:
        if not isinstance(at.value, bool):
            self.error(at.pos, at.path, f"expected true or false, got {kind(at.value)}")
            return None
        return at.value

    def integer(self, at: At, *, minimum: int | None = None) -> int | None:
        value = at.value
        if not isinstance(value, int) or isinstance(value, bool):
            self.error(at.pos, at.path, f"expected a whole number, got {kind(value)}")
            return None
        if minimum is not None and value < minimum:
            self.error(at.pos, at.path, f"must be at least {minimum}, got {value}")
            return None
        return value

    def number(self, at: At, *, minimum: float | None = None) -> float | None:
        value = at.value
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            self.error(at.pos, at.path, f"expected a number, got {kind(value)}")
            return None
        if minimum is not None and value < minimum:
            self.error(at.pos, at.path, f"must be at least {minimum:g}, got {value}")
            return None
        return value

    def choice(self, at: At, choices: tuple[str, ...]) -> str | None:
        if at.value not in choices or not isinstance(at.value, str):
            self.error(at.pos, at.path, f"expected one of {' | '.join(choices)}, got {kind(at.value)}")
            return None
        return at.value

    def duration(self, at: At, *, minimum: int = 0, maximum: int | None = None,
                 allow_negative: bool = False, why_max: str = "") -> int | None:
        seconds = self.check(at, lambda v: parse_duration(v, allow_negative=allow_negative))
        if seconds is None:
            return None
        if not allow_negative and seconds < minimum:
            self.error(at.pos, at.path, f"must be at least {format_duration(minimum)}, got {describe(at.value)}")
            return None
        if maximum is not None and abs(seconds) > maximum:
            why = f" ({why_max})" if why_max else ""
            self.error(at.pos, at.path, f"must be at most {format_duration(maximum)}{why}, got {describe(at.value)}")
            return None
        return seconds

    def strings(self, at: At, example: str = "") -> tuple[str, ...] | None:
        """A list of non-empty strings."""
        if not self.sequence(at, example):
            return None
        out = []
        for item in at.items():
            value = self.text(item)
            if value is not None:
                out.append(value)
        return tuple(out) if len(out) == len(at.value) else None


def unknown_key_message(key: Any, allowed: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(str(key), allowed, n=1)
    guess = f' (did you mean "{close[0]}"?)' if close else ""
    return f'unknown key "{key}"{guess}; allowed: {", ".join(allowed)}'
