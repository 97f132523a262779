"""The vocabulary the file formats are declared in (engine/rules/declared.py).

One declaration per mapping: its keys, which are required, their defaults, what each
means and the kind of value it takes. The loader takes its allowed and required keys from
it, `engine/rules/reference.py` writes the docs' key tables and the JSON Schemas from
it, and a unit test fails when the committed docs or schemas drift from it. The readers
in who.py/when.py/what.py/config.py/testfile.py still turn values into the model, with
the checks a schema cannot say (a template that renders, a window of at most 400 days).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union


@dataclass(frozen=True)
class Kind:
    """A kind of value: its JSON Schema and how the docs name it."""

    schema: dict
    name: str


@dataclass(frozen=True)
class Key:
    name: str
    kind: "Value"
    meaning: str
    required: bool = False
    needed: str = ""  # when "required" depends on other keys: "one of the two", "with `date`"
    default: str = ""
    link: str = ""  # the docs anchor of its own section, if it has one

    @property
    def required_text(self) -> str:
        return self.needed or ("yes" if self.required else "no")


@dataclass(frozen=True)
class Obj:
    """A mapping with declared keys; any other key is an error."""

    name: str  # its name under `$defs` and in messages
    keys: tuple[Key, ...]
    example: str = ""
    title: str = ""
    one_of: tuple[str, ...] = ()  # at least one of these keys is required

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(key.name for key in self.keys)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(key.name for key in self.keys if key.required)

    def key(self, name: str) -> Key:
        return next(key for key in self.keys if key.name == name)


@dataclass(frozen=True)
class OneOf:
    """A value of one of several shapes (a segment's heads, a limit or a list of them)."""

    name: str
    options: tuple["Value", ...]
    doc_name: str = ""


@dataclass(frozen=True)
class ListOf:
    item: "Value"
    min_items: int = 0
    max_items: int | None = None


@dataclass(frozen=True)
class Ref:
    """A declared value defined elsewhere (a segment nests segments)."""

    name: str


Value = Union[Kind, Obj, OneOf, ListOf, Ref]


def text(name: str = "text", **schema) -> Kind:
    return Kind({"type": "string", **schema}, name)


def enum(*values) -> Kind:
    return Kind({"enum": list(values)}, " or ".join(f"`{v}`" for v in values))


def integer(minimum: int | None = None) -> Kind:
    schema: dict = {"type": "integer"}
    if minimum is not None:
        schema["minimum"] = minimum
    return Kind(schema, "a whole number")


def number(minimum: float | None = None) -> Kind:
    schema: dict = {"type": "number"}
    if minimum is not None:
        schema["minimum"] = minimum
    return Kind(schema, "a number")


def one_or_list(item: "Value", name: str) -> OneOf:
    return OneOf(name, (item, ListOf(item, min_items=1)))


BOOLEAN = Kind({"type": "boolean"}, "`true` or `false`")
DURATION = text("duration", pattern=r"^\s*(\d+[smhdw])+\s*$")
SIGNED_DURATION = text("duration", pattern=r"^\s*-?(\d+[smhdw])+\s*$")
TIME_OF_DAY = text("time of day", pattern=r"^\s*([01]?\d|2[0-3]):[0-5]\d\s*$")
DATETIME = text("datetime or date", pattern=r"^\s*\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}.*)?\s*$")
ZONE = text("time zone", minLength=1)
TEMPLATE = text("template")
URL_TEMPLATE = text("URL template")
ANY = Kind({}, "any value")
PLAIN = Kind({"type": ["string", "number", "boolean", "null"]}, "a plain value")
PROPS = Kind({"type": "object"}, "a mapping")
