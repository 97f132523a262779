"""The per-user decision log behind `pushcast explain` and `pushcast test --coverage`.

Every decision the core makes about a user is an effect (effects.py); `remember` keeps
the last `keep` of them in `UserState.decisions`, oldest first, as compact rows
`[at, campaign, code, *args]` (stored under the short key `d`). It is called in one
place, `engine.shell.step.apply`, so every runtime keeps the same log.

A `Qualified` effect is not logged on its own: every one is followed, in the same
step, by what became of it (sent, suppressed, held), which implies it.

A failed segment, the most common row, is stored as `[at, campaign, "n", code, *seen]`:
the failing condition's code and what the state showed (engine.core.segments), not its
words; `entry` rebuilds the words from the loaded campaign. Rows written before that
(`"N", "segment", words`) still read as they were.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.core.campaigns import CampaignSet
from engine.core.effects import Conversion, Decision, Effects, Notify, Queued, Suppressed
from engine.core.isotime import minute_utc
from engine.core.segments import describe_failure, failure_path
from engine.core.state import UserState
from engine.rules.model import GlobalConfig

DEFAULT_KEEP = GlobalConfig.decision_log  # decisions kept per user unless pushcast.yaml says

# One-letter codes in the stored rows; the public names are the API's `decision`.
CODES = {
    "S": "sent", "T": "test_sent", "U": "suppressed", "N": "not_qualified", "W": "waiting",
    "H": "held", "X": "cancelled", "F": "failed", "C": "converted", "Q": "queued",
    "n": "not_qualified",  # reason segment: [code, *seen] instead of words
    "w": "waiting",  # [u | d | r, due]: an inaction wait, a delay, a date reminder
}
_CODE_OF = {name: code for code, name in CODES.items() if code not in ("n", "w")}
_WAIT_CODES = {"unless": "u", "delay": "d", "date": "r"}


@dataclass(frozen=True)
class Entry:
    """One decision read back from the log."""

    at: int  # epoch ms
    campaign: str
    decision: str  # a value of CODES
    reason: str = ""  # suppressed / not_qualified: why; converted: click | view
    detail: str = ""  # the rule in words (which limit, which hours, which condition)
    subscriptions: int = 0  # sent: to how many
    revenue: float = 0.0  # converted

    def to_dict(self) -> dict:
        data = {"at": self.at, "campaign": self.campaign, "decision": self.decision}
        for name in ("reason", "detail", "subscriptions", "revenue"):
            value = getattr(self, name)
            if value:
                data[name] = value
        return data


def row_of(effect: object) -> tuple | None:
    """The stored row for an effect; None for effects that are not logged."""
    make = _ROW_MAKERS.get(type(effect))
    return make(effect) if make is not None else None


def _decision_row(effect: Decision) -> tuple:
    if effect.reason == "segment" and effect.kind == "not_qualified":
        return (effect.at, effect.campaign, "n", effect.detail, *effect.seen)
    if effect.kind == "waiting" and effect.reason in _WAIT_CODES:
        return (effect.at, effect.campaign, "w", _WAIT_CODES[effect.reason], *effect.seen)
    code = _CODE_OF[effect.kind]
    if effect.reason and effect.kind == "not_qualified":  # the others' reasons are counters', not the log's
        return _trim([effect.at, effect.campaign, code, effect.reason, effect.detail])
    return _trim([effect.at, effect.campaign, code, effect.detail])


# One lookup per effect: `remember` runs on every step of every user. Rows are tuples of
# numbers and strings, which the garbage collector stops tracking (a list stays tracked:
# ~20 per user made every collection walk them); they are stored as JSON arrays.
_ROW_MAKERS = {
    Notify: lambda e: (e.at, e.campaign, "T" if e.test else "S", len(e.subscriptions)),
    Suppressed: lambda e: _trim([e.at, e.campaign, "U", e.reason, e.detail]),
    Decision: _decision_row,
    Conversion: lambda e: _trim([e.at, e.campaign, "C", e.kind, e.revenue]),
    Queued: lambda e: (e.at, e.campaign, "Q", f"by a limit until {minute_utc(e.until)}"),
}


def _trim(row: list) -> tuple:
    while len(row) > 3 and not row[-1]:
        row.pop()
    return tuple(row)


def remember(state: UserState, effects: Effects, keep: int = DEFAULT_KEEP) -> None:
    """Append the effects' decisions about this user; keep the last `keep` (0: none)."""
    if keep <= 0:
        if state.decisions:
            state.decisions = []
        return
    items = effects.items
    if not items:  # most events decide nothing
        return
    user, log, makers = state.user, state.decisions, _ROW_MAKERS
    for effect in items:
        make = makers.get(type(effect))
        if make is not None and effect.user == user:
            log.append(make(effect))
    if len(log) > keep:
        del log[:len(log) - keep]


def entry(row: list | tuple, campaigns: CampaignSet | None = None) -> Entry:
    """A stored row back as an Entry; a failed segment in words when `campaigns` holds its
    campaign with that condition, else as the condition's place (`segment.all[0]`)."""
    at, campaign, code, *args = row
    decision = CODES.get(code, code)
    if code == "n":
        return Entry(at, campaign, decision, reason="segment", detail=segment_words(campaign, args, campaigns))
    if code == "w":
        return Entry(at, campaign, decision, detail=waiting_words(campaign, args, campaigns))
    if code in ("S", "T"):
        return Entry(at, campaign, decision, subscriptions=args[0] if args else 0)
    if code == "C":
        return Entry(at, campaign, decision, reason=args[0] if args else "", revenue=args[1] if len(args) > 1 else 0.0)
    if code in ("U", "N"):
        return Entry(at, campaign, decision, reason=args[0] if args else "", detail=args[1] if len(args) > 1 else "")
    return Entry(at, campaign, decision, detail=args[0] if args else "")


def segment_words(campaign: str, args: list, campaigns: CampaignSet | None) -> str:
    code, seen = (args[0], args[1:]) if args else ("", [])
    compiled = campaigns.get(campaign) if campaigns is not None else None
    words = describe_failure(compiled.campaign.segment, code, seen) if compiled is not None else None
    if words is not None:
        return words
    about = "the campaign is not loaded" if compiled is None else "the campaign has changed since"
    return f"{failure_path(code)} failed ({about}; seen {seen})"


def waiting_words(campaign: str, args: list, campaigns: CampaignSet | None) -> str:
    kind, due = (args[0], args[1]) if len(args) > 1 else ("", 0)
    if kind == "d":
        return f"delayed until {minute_utc(due)}"
    if kind == "r":
        return f"reminder due {minute_utc(due)}"
    compiled = campaigns.get(campaign) if campaigns is not None else None
    unless = compiled.campaign.unless if compiled is not None else None
    return f"waiting until {minute_utc(due)} unless {unless.event if unless else 'its unless event'} comes"


def entries(state: UserState, campaign: str | None = None, campaigns: CampaignSet | None = None) -> list[Entry]:
    """The user's logged decisions, oldest first (only `campaign`'s when given); failed
    segments in words from `campaigns` (the loaded set)."""
    return [entry(row, campaigns) for row in state.decisions if campaign is None or row[1] == campaign]
