"""What a pending wait may hold: bounded in number per user and campaign, and in size.

Each distinct `match` value (a cart id) has its own inaction wait, so a user who sends
thousands of carts would otherwise keep thousands of waits, each with the whole trigger
event's props: a state of hundreds of kilobytes that every batch decodes and rewrites.
A wait only needs the props its campaign's templates read when it fires (and the
`match` and date names, kept so the stored wait explains itself).
"""

from __future__ import annotations

from engine.core.effects import Effects, Suppressed
from engine.core.state import UserState, Wait
from engine.rules.model import Campaign, DateTrigger

MAX_WAITS_PER_CAMPAIGN = 100  # pending waits a user keeps per campaign; the oldest goes


def wait_props(campaign: Campaign) -> frozenset[str] | None:
    """The trigger props a wait of this campaign keeps; None keeps them all (a template
    names a prop at run time, or a field is not a compiled template)."""
    what = campaign.what
    texts = [getattr(what, name) for name in ("title", "body", "url", "icon", "image", "badge", "tag")]
    for action in what.actions:
        texts += [action.title, action.url]
    names: set[str] = set()
    for text in texts:
        if text is None:
            continue
        read = getattr(text, "event_names", None)
        if read is None:
            return None
        names |= read
    if campaign.unless is not None:
        names.update(campaign.unless.match)
    if isinstance(campaign.trigger, DateTrigger):
        names.add(campaign.trigger.date)
    return frozenset(names)


def kept_props(props: dict, names: frozenset[str] | None) -> dict:
    if names is None:
        return props
    return {name: props[name] for name in names if name in props}


def add_wait(state: UserState, wait: Wait, at: int, out: Effects, limit: int = MAX_WAITS_PER_CAMPAIGN) -> None:
    """Add a wait; past `limit` for its campaign the oldest are dropped, each counted as
    suppressed (`wait_limit`)."""
    if len(state.waits) < limit:  # fewer waits in all than the cap: nothing to drop
        state.waits.append(wait)
        return
    same = [w for w in state.waits if w.campaign == wait.campaign]
    excess = len(same) - limit + 1
    if excess > 0:
        dropped = same[:excess]  # waits are appended, and a restarted wait moves to the end
        gone = {id(w) for w in dropped}
        state.waits = [w for w in state.waits if id(w) not in gone]
        for old in dropped:
            out.add(Suppressed(old.campaign, state.user, at, "wait_limit", old.message_id,
                               f"more than {limit} pending waits for this campaign; the oldest is dropped"))
    state.waits.append(wait)
