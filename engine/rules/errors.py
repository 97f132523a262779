"""Configuration problems, under pushcast's one exception root (`engine.errors`).

A `Problem` is one thing wrong in one file, with the position of the offending key or
value. The loaders collect every problem before raising one `ConfigError`, so a user fixes
a file in one round trip instead of one error per run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from engine.errors import PushcastError
from engine.rules.model import Position

__all__ = ["ConfigError", "Problem", "PushcastError", "RenderError"]


@dataclass(frozen=True)
class Problem:
    """One mistake: `file:line:col: campaign "id", dotted.path: message`.

    `file` names the file when there is no position (a file that cannot be read).
    """

    position: Position | None
    campaign: str | None
    path: str
    message: str
    file: str | None = None

    @property
    def location(self) -> str:
        if self.position is not None:
            return str(self.position)
        return self.file or ""

    def __str__(self) -> str:
        subject = []
        if self.campaign:
            subject.append(f'campaign "{self.campaign}"')
        if self.path:
            subject.append(".".join(_excerpt(part) for part in self.path.split(".")))
        parts = [p for p in (self.location, ", ".join(subject), _LONG_QUOTE.sub(_quoted_excerpt, self.message)) if p]
        return ": ".join(parts)

    def sort_key(self) -> tuple:
        pos = self.position
        return (self.location if pos is None else pos.file, pos.line if pos else 0, pos.col if pos else 0)


# Keys and values from a file are quoted in messages: a stray or hostile file must get
# an excerpt back, not its content (a key of 10,000 characters, a secret file).
EXCERPT = 60
_LONG_QUOTE = re.compile(r'"([^"]{%d,})"' % (EXCERPT + 1))


def _excerpt(text: str) -> str:
    return text if len(text) <= EXCERPT else text[: EXCERPT - 1] + "…"


def _quoted_excerpt(match: re.Match) -> str:
    return f'"{_excerpt(match.group(1))}"'


class ConfigError(PushcastError):
    """Campaign files, `pushcast.yaml` or a test file are invalid; `problems` lists all."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


class RenderError(PushcastError):
    """A template could not be rendered for one user (a value is missing, a URL is bad).

    Raised per user at send time; the core turns it into a counted, logged effect.
    `field` is the dotted path (`what.title`), `variable` the missing value if any.
    """

    def __init__(self, field: str, message: str | None = None, *, variable: str | None = None,
                 campaign: str | None = None):
        if message is None:  # RenderError("what.title: rendered empty"): one preformatted text
            field, message = "", field
        self.field = field
        self.variable = variable
        self.campaign = campaign
        self.detail = message
        super().__init__(f"{field}: {message}" if field else message)
