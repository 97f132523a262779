"""A user's decision log in words a marketer reads: the one formatter behind
`pushcast explain`, `GET /v1/users/{id}/decisions?format=text` and `pushcast test`."""

from __future__ import annotations

from engine.core.campaigns import CampaignSet
from engine.core.decisions import Entry, entries
from engine.core.isotime import minute_utc
from engine.core.state import UserState

# What a suppression says when the core gave no detail.
REASON_WORDS = {
    "paused": "campaign paused",
    "ended": "campaign ended",
    "cutoff": "past the cut-off",
    "no_subscription": "no push subscription",
    "date_passed": "the date already passed",
    "invalid_date": "the date is not a date",
    "dnd": "do-not-disturb hours",
    "limit": "a frequency limit was reached",
    "render_error": "the message could not be personalised",
    "late": "the scheduled time already passed",
    "wait_limit": "too many pending waits",
    "engagement": "held by the engagement guard",
}


# Decisions told as a prefix and the core's detail.
DETAIL_PREFIX = {"waiting": "qualified, ", "held": "held ", "queued": "queued ", "cancelled": "wait cancelled: ",
                 "failed": "delivery failed: "}


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def describe(entry: Entry) -> str:
    """What happened, without time and campaign: `not sent: global limit 3 per day ...`."""
    kind, detail = entry.decision, entry.detail
    if kind == "sent":
        return f"sent to {plural(entry.subscriptions, 'subscription')}"
    if kind == "test_sent":
        return f"test send to {plural(entry.subscriptions, 'subscription')}"
    if kind == "suppressed":
        return f"not sent: {detail or REASON_WORDS.get(entry.reason, entry.reason)}"
    if kind == "not_qualified":
        return f"did not qualify: {detail or entry.reason}"
    if kind in DETAIL_PREFIX:
        return DETAIL_PREFIX[kind] + detail
    if kind == "converted":
        how = "after a click" if entry.reason == "click" else "after seeing it" if entry.reason == "view" else entry.reason
        return f"converted {how}" + (f", revenue {entry.revenue:g}" if entry.revenue else "")
    return f"{kind} {detail}".strip()


def format_entry(entry: Entry) -> str:
    """One line: `2026-12-01 09:14 UTC  cart-reminder  not sent: ...`."""
    return f"{minute_utc(entry.at)}  {entry.campaign}  {describe(entry)}"


def explain_lines(found: list[Entry], user: str, campaign: str | None = None) -> list[str]:
    """The log as lines, oldest first; one line saying so when it is empty."""
    if not found:
        about = f" about campaign {campaign}" if campaign else ""
        return [f"no decisions{about} logged for user {user}"]
    return [format_entry(e) for e in found]


def explain_state(state: UserState | None, user: str, campaign: str | None = None,
                  campaigns: CampaignSet | None = None) -> list[str]:
    """The lines for a stored state; failed segments in words from `campaigns`."""
    return explain_lines(entries(state, campaign, campaigns) if state is not None else [], user, campaign)


def entries_from_json(items: list[dict]) -> list[Entry]:
    """Entries from the API's JSON (`GET /v1/users/{id}/decisions`), for the CLI."""
    return [Entry(**item) for item in items]
