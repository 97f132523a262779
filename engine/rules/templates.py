"""Personalisation templates: Liquid, checked at load time, strict at send time.

Load time: syntax, filters and variables are checked once (only `profile.*` and `event.*`
exist; `event` is the triggering event's props), so a typo fails `pushcast check`, not a
send. Send time: a value that is missing (or null) with no `default` filter raises
`RenderError` for that one user instead of rendering an empty hole.

URL fields are escaped as URLs, not as HTML: a value substituted after literal text
(`https://shop.example/cart/{{ event.cart_id }}`) is percent-encoded as one URL component;
a value that starts the URL (`{{ event.image_url }}`) is taken as a URL and must be
http(s). To know which is which after `if`/`for` blocks have run, the URL environment
wraps each output in private-use sentinel characters that `_finish_url` resolves.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, urlsplit

from liquid import Environment
from liquid.builtin.output import Output, OutputNode
from liquid.builtin.tags.echo_tag import EchoNode, EchoTag
from liquid.exceptions import LiquidError, UndefinedError
from liquid.stringify import to_liquid_string
from liquid.undefined import FalsyStrictUndefined, Undefined

from engine.errors import PushcastError
from engine.rules.errors import RenderError

ROOTS = ("profile", "event")
_ENCODE, _VERBATIM, _CLOSE = "\ue000", "\ue002", "\ue001"
_SENTINELS = re.compile("[\ue000\ue001\ue002]")
_DYNAMIC = re.compile("([\ue000\ue002])([^\ue001]*)\ue001")
# The characters quote(text, safe="") never encodes.
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")
# Characters a URL may hold as they are; everything else in a whole-URL value is escaped.
_URL_SAFE = ";/?:@&=+$,#[]!'()*%~"
_HTTP_PREFIX = re.compile(r"\s*https?://", re.IGNORECASE)


class MissingValue(FalsyStrictUndefined):
    """Missing values raise when output, but `default` applies and `{% if %}` is false."""

    force_liquid_default = True

    def __eq__(self, other: object) -> bool:
        return other is None or isinstance(other, Undefined)

    __hash__ = None  # type: ignore[assignment]


class EncodedComponent(str):
    """Text already percent-encoded by a filter (`url_encode`, `url_path`): not re-encoded."""

    __slots__ = ()


class _MissingOutput(Exception):
    def __init__(self, expression: str):
        self.expression = expression


def _value_text(node: OutputNode, value: Any) -> str:
    if value is None:  # a JSON null with no default is as missing as an absent key
        raise _MissingOutput(str(node.expression))
    return to_liquid_string(value, False)


class _TextOutputNode(OutputNode):
    __slots__ = ()

    def render_to_output(self, context: Any, buffer: Any) -> int:
        return buffer.write(_value_text(self, self.expression.evaluate(context)))


class _TextEchoNode(EchoNode, _TextOutputNode):
    __slots__ = ()


class _UrlOutputNode(OutputNode):
    __slots__ = ()

    def render_to_output(self, context: Any, buffer: Any) -> int:
        value = self.expression.evaluate(context)
        text = _SENTINELS.sub("", _value_text(self, value))
        mark = _VERBATIM if isinstance(value, EncodedComponent) else _ENCODE
        return buffer.write(mark + text + _CLOSE)


class _UrlEchoNode(EchoNode, _UrlOutputNode):
    __slots__ = ()


def _environment(output_node: type, echo_node: type) -> Environment:
    env = Environment(undefined=MissingValue, strict_filters=True)
    # No partials: a campaign file is self-contained, and there is no loader to read them.
    for tag in ("include", "render"):
        env.tags.pop(tag, None)
    env.tags[Output.name] = type("PushcastOutput", (Output,), {"node_class": output_node})(env)
    env.tags[EchoTag.name] = type("PushcastEcho", (EchoTag,), {"node_class": echo_node})(env)
    env.add_filter("url_encode", lambda v: EncodedComponent(quote(to_liquid_string(v, False), safe="")))
    env.add_filter("url_path", lambda v: EncodedComponent(quote(to_liquid_string(v, False), safe="/")))
    return env


_TEXT_ENV = _environment(_TextOutputNode, _TextEchoNode)
_URL_ENV = _environment(_UrlOutputNode, _UrlEchoNode)


class TemplateProblems(PushcastError, ValueError):
    """Load-time template mistakes: `problems` is a list of (offset in source, message)."""

    def __init__(self, problems: list[tuple[int, str]]):
        self.problems = problems
        super().__init__("; ".join(m for _, m in problems))


class Template:
    """A compiled template field; implements `engine.rules.model.Text`."""

    __slots__ = ("source", "field", "is_url", "required", "campaign", "event_names", "_compiled", "_constant",
                 "_simple", "_after_literal", "_default_url")

    def __init__(self, source: str, field: str, *, is_url: bool = False, required: bool = False,
                 campaign: str | None = None):
        self.source = source
        self.field = field
        self.is_url = is_url
        self.required = required
        self.campaign = campaign
        self._compiled = None
        self._constant: str | None = None
        self._simple: list | None = None
        self._after_literal = False  # a simple URL whose values all follow its literal start
        self._default_url: str | None = None  # `{{ event.image_url | default: 'https://...' }}`: its default, rendered
        # The event props it reads (top-level names), None when it names one at run time
        # (`event[event.key]`): what a pending wait must keep of its trigger event.
        self.event_names: frozenset[str] | None = frozenset()
        if "{{" not in source and "{%" not in source:
            self._constant = source.strip() if is_url else source
            if is_url and not is_http_url(self._constant):
                raise TemplateProblems([(0, f"expected an http(s) URL like https://shop.example/page, got \"{source}\"")])
            return
        problems: list[tuple[int, str]] = []
        if is_url and not source.lstrip().startswith(("{{", "{%")) and not _HTTP_PREFIX.match(source):
            problems.append((0, f"a URL must start with http:// or https:// (or with a value that is one), got \"{source}\""))
        env = _URL_ENV if is_url else _TEXT_ENV
        try:
            self._compiled = env.from_string(source)
        except LiquidError as exc:
            offset = exc.token.start_index if exc.token is not None and exc.token.start_index >= 0 else 0
            problems.append((offset, f"template syntax error: {exc.message}"))
        else:
            analysis = self._compiled.analyze(include_partials=False)
            problems.extend(_name_problems(analysis, env))
            self.event_names = _event_names(analysis)
        if problems:
            raise TemplateProblems(problems)
        self._simple = simple_parts(source)
        self._after_literal = is_url and self._simple is not None and _values_follow_literal_url(self._simple)
        if is_url and self._simple is not None and len(self._simple) == 1 and isinstance(self._simple[0], tuple):
            fallback = self._simple[0][2]
            if isinstance(fallback, str) and fallback:
                try:
                    self._default_url = self._finish_url(_ENCODE + _SENTINELS.sub("", fallback) + _CLOSE)
                except RenderError:
                    pass

    def render(self, profile: dict, event: dict) -> str:
        """Render for one user; RenderError if a value is missing or a URL is unusable."""
        if self._constant is not None:
            return self._constant
        if self._simple is not None:
            return self._render_simple(profile, event)
        try:
            out = self._compiled.render(profile=profile, event=event)
        except UndefinedError as exc:
            name = exc.message.removesuffix(" is undefined")
            raise self._error(f'"{name}" is missing and has no default', name) from None
        except _MissingOutput as exc:
            raise self._error(f'"{exc.expression}" is missing and has no default', exc.expression) from None
        except LiquidError as exc:
            raise self._error(exc.message or str(exc)) from None
        except Exception as exc:  # a filter fed odd user data must not crash the engine
            raise self._error(f"{type(exc).__name__}: {exc}") from None
        if self.is_url:
            out = self._finish_url(out)
        if self.required and not out.strip():
            raise self._error(f"rendered empty from {self.source!r}")
        return out

    def _render_simple(self, profile: dict, event: dict) -> str:
        """The same output as Liquid for `text {{ root.name | default: 'x' }}` templates,
        without Liquid's per-render context: most campaign fields look like this."""
        if self._after_literal:
            return self._render_url_components(profile, event)
        if self._default_url is not None:
            root, name, _ = self._simple[0]
            if _liquid_empty((profile if root == "profile" else event).get(name)):
                return self._default_url
        pieces: list[str] = []
        for part in self._simple:
            if type(part) is str:
                pieces.append(part)
                continue
            text = self._value_text(part, profile, event)
            pieces.append(_ENCODE + _SENTINELS.sub("", text) + _CLOSE if self.is_url else text)
        out = "".join(pieces)
        if self.is_url:
            out = self._finish_url(out)
        if self.required and not out.strip():
            raise self._error(f"rendered empty from {self.source!r}")
        return out

    def _value_text(self, part: tuple, profile: dict, event: dict) -> str:
        """One `{{ root.name | default: ... }}` output of a simple template, as Liquid writes it."""
        root, name, fallback = part
        value = (profile if root == "profile" else event).get(name)
        if fallback is not _NO_DEFAULT and _liquid_empty(value):
            value = fallback
        if value is None:
            raise self._error(f'"{root}.{name}" is missing and has no default', f"{root}.{name}")
        return value if type(value) is str else to_liquid_string(value, False)

    def _render_url_components(self, profile: dict, event: dict) -> str:
        """`https://shop.example/cart/{{ event.cart_id }}`: each value is one URL component,
        percent-encoded, after literal text that is already an http(s) URL: what
        `_finish_url` makes of it, without the sentinels and the URL check per send."""
        pieces: list[str] = []
        for part in self._simple:
            if type(part) is str:
                pieces.append(part)
                continue
            text = self._value_text(part, profile, event)
            if _UNRESERVED.issuperset(text):  # ids and slugs: what quote() leaves as they are
                pieces.append(text)
                continue
            if "\ue000" in text or "\ue001" in text or "\ue002" in text:
                text = _SENTINELS.sub("", text)
            pieces.append(quote(text, safe=""))
        return "".join(pieces)

    def _error(self, message: str, variable: str | None = None) -> RenderError:
        return RenderError(self.field, message, variable=variable, campaign=self.campaign)

    def _finish_url(self, rendered: str) -> str:
        pieces: list[str] = []
        started = False  # has literal text or a value already begun the URL?
        last = 0
        for match in _DYNAMIC.finditer(rendered):
            literal = rendered[last:match.start()]
            pieces.append(literal)
            started = started or bool(literal.strip())
            mark, value = match.group(1), match.group(2)
            if mark == _VERBATIM:
                pieces.append(value)
            elif not started:
                pieces.append(quote(value.strip(), safe=_URL_SAFE))
            else:
                pieces.append(quote(value, safe=""))
            started = started or bool(value.strip())
            last = match.end()
        pieces.append(rendered[last:])
        url = "".join(pieces).strip()
        if not is_http_url(url):
            raise self._error(f"rendered {url[:200]!r}, which is not an http(s) URL")
        return url

    def __eq__(self, other: object) -> bool:
        # Campaigns compare equal when their files mean the same: reload keeps their state.
        return isinstance(other, Template) and (self.source, self.field, self.is_url, self.required) == (
            other.source, other.field, other.is_url, other.required)

    def __hash__(self) -> int:
        return hash((self.source, self.field, self.is_url))

    def __repr__(self) -> str:
        return f"Template({self.field}={self.source!r})"


def _name_problems(analysis: Any, env: Environment) -> list[tuple[int, str]]:
    problems: list[tuple[int, str]] = []
    for root, uses in analysis.globals.items():
        for use in uses:
            if root not in ROOTS:
                problems.append((use.span.index, f'unknown variable "{use}"; templates can read profile.* and event.* (the event\'s props)'))
            elif len(use.segments) == 1:
                problems.append((use.span.index, f'"{root}" alone is not a value; name a property like {root}.name'))
    for name, spans in analysis.filters.items():
        if name not in env.filters:
            for span in spans:
                problems.append((span.index, f'unknown filter "{name}"'))
    return sorted(problems)


# Liquid answers these on any mapping from the whole of it, not from one key.
_WHOLE_MAPPING = frozenset({"size", "first", "last"})


def _event_names(analysis: Any) -> frozenset[str] | None:
    names = set()
    for use in analysis.globals.get("event", ()):
        name = use.segments[1] if len(use.segments) > 1 else None
        if not isinstance(name, str) or name in _WHOLE_MAPPING:
            return None
        names.add(name)
    return frozenset(names)


_SPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f]")


def is_http_url(url: str) -> bool:
    """An absolute http(s) URL with a host and no spaces or control characters."""
    if not url or _SPACE_OR_CONTROL.search(url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


def compile_template(source: str, field: str, *, is_url: bool = False, required: bool = False,
                     campaign: str | None = None) -> Template:
    """Compile once at load time; raises TemplateProblems with offsets into `source`."""
    return Template(source, field, is_url=is_url, required=required, campaign=campaign)


_NO_DEFAULT = object()
_SIMPLE_OUTPUT = re.compile(
    r"\{\{\s*(profile|event)\.([A-Za-z_][A-Za-z0-9_]*)\s*"
    r"(?:\|\s*default:\s*(?:'([^'{}]*)'|\"([^\"{}]*)\"|(-?\d+)(?![.\d]))\s*)?\}\}"
)


def simple_parts(source: str) -> list | None:
    """Literal text and (root, name, default) outputs, or None when the template uses
    anything else (tags, filters, nested paths), which Liquid then renders."""
    parts: list = []
    last = 0
    for match in _SIMPLE_OUTPUT.finditer(source):
        parts.append(source[last:match.start()])
        root, name, single, double, number = match.groups()
        fallback = single if single is not None else double if double is not None else (
            int(number) if number is not None else _NO_DEFAULT)
        parts.append((root, name, fallback))
        last = match.end()
    parts.append(source[last:])
    literal = "".join(p for p in parts if isinstance(p, str))
    if "{{" in literal or "{%" in literal or "}}" in literal or "%}" in literal:
        return None
    return [p for p in parts if p != ""]


def _values_follow_literal_url(parts: list) -> bool:
    """The template starts with literal text that is an http(s) URL with a host, and no
    literal has spaces or control characters: every value then renders percent-encoded
    and the whole is an http(s) URL whatever the values (`_render_url_components`)."""
    if not parts or not isinstance(parts[0], str):
        return False
    literals = [p for p in parts if isinstance(p, str)]
    return is_http_url(parts[0]) and not any(_SPACE_OR_CONTROL.search(text) for text in literals)


def _liquid_empty(value: Any) -> bool:
    """Liquid's `default` replaces nil, false and empty strings or collections (not 0)."""
    if value is None or value is False:
        return True
    if isinstance(value, (str, list, dict, tuple)):
        return not value
    return False
