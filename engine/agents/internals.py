"""Checking that another package's private names still exist in the shape code relies on.

A private attribute or method can vanish, or change its meaning, in any release without
notice. `Internal` declares one such dependency (where it lives, what kind of thing it is,
its parameters or declared type, and which upstream functions still use it); `problems`
compares the declaration with the installed package and names what no longer matches.
Only source of single functions is read, so a check costs a few milliseconds.
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
from dataclasses import dataclass
from typing import Any

METHOD = "method"
COROUTINE = "coroutine"
ATTRIBUTE = "attribute"


@dataclass(frozen=True)
class Internal:
    """One private (or internal) name another package must keep.

    owner: "module" or "module:Class". kind: METHOD, COROUTINE or ATTRIBUTE.
    params: a method's parameter names, `self` included, when pushcast calls or replaces it.
    annotation: an attribute's declared type (on the class), or the type of a module
      attribute's value.
    set_by / read_by: "module:Qualified.name" functions whose source must still assign
      (`self.name = ...`) / mention the name: where the attribute is made, and where
      upstream uses what pushcast sets or replaces (if upstream stops using it, a patch
      would silently stop mattering).
    why: what pushcast needs it for.
    """

    owner: str
    name: str
    kind: str
    params: tuple[str, ...] | None = None
    annotation: Any = None
    set_by: tuple[str, ...] = ()
    read_by: tuple[str, ...] = ()
    why: str = ""

    @property
    def label(self) -> str:
        return f"{self.owner.replace(':', '.')}.{self.name}"


def resolve(path: str) -> Any:
    """The object at "module" or "module:Qualified.name"."""
    module, _, qualname = path.partition(":")
    obj = importlib.import_module(module)
    for part in filter(None, qualname.split(".")):
        obj = getattr(obj, part)
    return obj


def problems(internal: Internal) -> list[str]:
    """What of `internal` the installed packages no longer match; each names the attribute."""
    label = internal.label
    try:
        owner = resolve(internal.owner)
    except (ImportError, AttributeError) as exc:
        return [f"{label}: its owner {internal.owner} is gone ({exc})"]
    if internal.kind in (METHOD, COROUTINE):
        out = _method_problems(internal, owner)
    elif internal.kind == ATTRIBUTE:
        out = _attribute_problems(internal, owner)
    else:
        out = [f"{label}: unknown kind {internal.kind!r}"]
    for path in internal.set_by:
        out += _source_problems(internal, path, _assigned(internal.name), "no longer assigns it")
    for path in internal.read_by:
        out += _source_problems(internal, path, rf"\b{re.escape(internal.name)}\b", "no longer uses it")
    return out


def _method_problems(internal: Internal, owner: Any) -> list[str]:
    label = internal.label
    function = getattr(owner, internal.name, None)
    if function is None:
        return [f"{label}: missing (expected a {internal.kind})"]
    if not callable(function):
        return [f"{label}: not a {internal.kind} any more ({type(function).__name__})"]
    out = []
    if internal.kind == COROUTINE and not inspect.iscoroutinefunction(function):
        out.append(f"{label}: no longer a coroutine function (async def)")
    if internal.kind == METHOD and inspect.iscoroutinefunction(function):
        out.append(f"{label}: now a coroutine function (async def)")
    if internal.params is not None:
        params = tuple(inspect.signature(function).parameters)
        if params != internal.params:
            out.append(f"{label}: parameters are {params}, expected {internal.params}")
    return out


def _attribute_problems(internal: Internal, owner: Any) -> list[str]:
    label = internal.label
    if inspect.ismodule(owner):
        if not hasattr(owner, internal.name):
            return [f"{label}: missing from the module"]
        value = getattr(owner, internal.name)
        if internal.annotation is not None and not isinstance(value, internal.annotation):
            return [f"{label}: is a {type(value).__name__}, expected a {internal.annotation.__name__}"]
        return []
    declared = _declared(owner, internal.name)
    if internal.annotation is not None:
        if declared is _MISSING:
            return [f"{label}: no longer declared on the class (expected {internal.annotation})"]
        if declared != internal.annotation:
            return [f"{label}: declared as {declared}, expected {internal.annotation}"]
        return []
    if declared is _MISSING and not hasattr(owner, internal.name) and not internal.set_by:
        return [f"{label}: missing (neither declared nor a class attribute, and no set_by to find it)"]
    return []


_MISSING = object()


def _declared(cls: type, name: str) -> Any:
    for klass in cls.__mro__:
        annotations = klass.__dict__.get("__annotations__", {})
        if name in annotations:
            return _evaluated(annotations[name], klass)
    return _MISSING


def _evaluated(annotation: Any, klass: type) -> Any:
    # A module with `from __future__ import annotations` keeps them as strings.
    if not isinstance(annotation, str):
        return annotation
    try:
        return eval(annotation, vars(sys.modules[klass.__module__]))  # noqa: S307 - upstream's own source
    except Exception:
        return annotation


def _assigned(name: str) -> str:
    # `self.name = ...` or `self.name: T = ...`, not `self.name == ...`
    return rf"\bself\.{re.escape(name)}\s*(:[^=\n]+)?=(?!=)"


def _source_problems(internal: Internal, path: str, pattern: str, failure: str) -> list[str]:
    try:
        source = inspect.getsource(resolve(path))
    except (ImportError, AttributeError) as exc:
        return [f"{internal.label}: {path} is gone ({exc})"]
    except (OSError, TypeError) as exc:
        return [f"{internal.label}: the source of {path} cannot be read ({exc})"]
    if re.search(pattern, source) is None:
        return [f"{internal.label}: {path} {failure}"]
    return []
