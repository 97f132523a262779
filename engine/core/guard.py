"""The engagement guard as the core reads it: the shell judges each campaign's and the
site's click-through (engine/shell/engagement.py) and hands the core its verdicts as
data (`CampaignSet.guard`); the core only applies them to each message."""

from __future__ import annotations

from dataclasses import dataclass

from engine.core.variants import point

SITE = "*"  # the scope of the whole site's verdict; campaign ids are the others


@dataclass(frozen=True)
class Verdict:
    scope: str  # a campaign id, or SITE
    action: str  # throttle | pause
    share: float  # throttle: the share of messages still sent
    since: int  # epoch ms: when the click rate was first found below the floor
    sends: int  # the window's figures when judged
    clicks: int
    detail: str  # in words, for the decision log: which rate, over what, below which floor


def stopped_by(guard: dict[str, Verdict], campaign_id: str, message_id: str) -> Verdict | None:
    """The verdict that holds this message back, or None. A throttle lets a fixed share
    through, chosen by the message id: the same message decides the same way everywhere."""
    for scope in (campaign_id, SITE):
        verdict = guard.get(scope)
        if verdict is not None and (verdict.action == "pause" or point(SITE, message_id) >= verdict.share):
            return verdict
    return None
