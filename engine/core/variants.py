"""Which variant of a campaign's message a user gets: pinned, the winner, or drawn.

The draw is a stable hash of (campaign id, user id) placed on the variants' cumulative
weights in the order the file lists them: the same answer in every process, runtime and
restart, with no randomness and no dependence on dict order. A user keeps their variant
for the campaign's whole life (changing the weights moves only the users whose point
falls in a moved band).
"""

from __future__ import annotations

import hashlib
from bisect import bisect_right

from engine.rules.model import Campaign, Message, Variant

# A profile property {campaign id: variant name} that pins a user (QA, campaign tests).
PIN_PROPERTY = "$variants"
_SCALE = float(1 << 64)


def point(campaign_id: str, user: str) -> float:
    """The user's place in [0, 1) for this campaign: blake2b of both ids, 64 bits."""
    digest = hashlib.blake2b(f"{campaign_id}\x1f{user}".encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE


class _Arms:
    """A message's variants, indexed once: the cumulative weights and the names."""

    __slots__ = ("what", "tops", "names", "total", "by_name")

    def __init__(self, what: Message):
        self.what = what
        bands = [(v.name, v.weight) for v in what.variants]
        if what.control is not None:
            bands.append((what.control.name, what.control.weight))
        self.names = [name for name, _ in bands]
        self.tops, reached = [], 0.0
        for _, weight in bands:
            reached += weight
            self.tops.append(reached)
        self.total = reached
        self.by_name = {v.name: v for v in what.variants}


_arms: dict[int, _Arms] = {}  # id(message) -> its index; checked by identity, so never stale


def _arms_of(what: Message) -> _Arms:
    found = _arms.get(id(what))
    if found is None or found.what is not what:
        if len(_arms) > 10_000:  # reloads leave old messages behind: start over, it is a cache
            _arms.clear()
        found = _arms[id(what)] = _Arms(what)
    return found


def drawn(campaign: Campaign, user: str) -> str:
    """The variant (or control) name the hash gives this user, whatever the winner."""
    arms = _arms_of(campaign.what)
    target = point(campaign.id, user) * arms.total
    index = bisect_right(arms.tops, target)
    return arms.names[min(index, len(arms.names) - 1)]  # min: float rounding at the very top


def pinned(campaign: Campaign, profile: dict) -> str | None:
    pins = profile.get(PIN_PROPERTY)
    name = pins.get(campaign.id) if isinstance(pins, dict) else None
    return name if isinstance(name, str) and is_arm(campaign, name) else None


def is_arm(campaign: Campaign, name: str) -> bool:
    """A variant or the control of this campaign."""
    what = campaign.what
    return any(v.name == name for v in what.variants) or (what.control is not None and what.control.name == name)


def assign(campaign: Campaign, user: str, profile: dict, winners: dict[str, str]) -> str | None:
    """The user's variant or control name; None for a campaign without variants. A pin
    comes first; a decided winner takes every user not drawn into the control."""
    if not campaign.what.variants:
        return None
    pin = pinned(campaign, profile)
    if pin is not None:
        return pin
    name = drawn(campaign, user)
    if is_control(campaign, name):
        return name
    winner = winners.get(campaign.id)
    return winner if winner is not None and find(campaign, winner) is not None else name


def is_control(campaign: Campaign, name: str | None) -> bool:
    control = campaign.what.control
    return control is not None and name == control.name


def find(campaign: Campaign, name: str) -> Variant | None:
    return _arms_of(campaign.what).by_name.get(name) if campaign.what.variants else None


def message_of(campaign: Campaign, variant: str | None) -> Message:
    """The message to render for this variant (the base for None or an unknown name)."""
    found = find(campaign, variant) if variant else None
    return found.what if found is not None else campaign.what
