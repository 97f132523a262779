"""Delivery and click reports, and conversions attributed to the last touch."""

from __future__ import annotations

from engine.core.campaigns import CampaignSet
from engine.core.effects import Conversion, Effects
from engine.core.events import Event
from engine.core.state import Sent, UserState


def _find(state: UserState, message: object) -> Sent | None:
    for sent in reversed(state.sent):
        if sent.message_id == message:
            return sent
    return None


def record_report(state: UserState, event: Event) -> None:
    """`$notification_sent` marks a delivery (view-through), `$notification_clicked` a
    click (click-through). Repeated reports (one per subscription) keep the first time."""
    sent = _find(state, event.props.get("message"))
    if sent is None:
        return
    if event.name == "$notification_sent" and not sent.delivered:
        sent.delivered = event.ts
    elif event.name == "$notification_clicked" and not sent.clicked:
        sent.clicked = event.ts
        if not sent.delivered:
            sent.delivered = event.ts


def attribute_conversion(state: UserState, event: Event, campaigns: CampaignSet, out: Effects) -> None:
    """Credit one conversion event to at most one message: the latest click within its
    campaign's window, else the latest delivery (view-through). A message converts once."""
    best: tuple[int, int, Sent] | None = None  # (kind rank: click 1, view 0, control -1; touch time, sent)
    for sent in state.sent:
        if sent.converted or not sent.counts_global:
            continue
        compiled = campaigns.get(sent.campaign)
        conversion = compiled.campaign.conversion if compiled else None
        if conversion is None or conversion.event != event.name:
            continue
        window = conversion.within * 1000
        if sent.control:  # a holdout user: within the window after they would have been sent
            if not 0 <= event.ts - sent.at <= window:
                continue
            candidate = (-1, sent.at, sent)
        elif sent.clicked and 0 <= event.ts - sent.clicked <= window:
            candidate = (1, sent.clicked, sent)
        elif sent.delivered and 0 <= event.ts - sent.delivered <= window:
            candidate = (0, sent.delivered, sent)
        else:
            continue
        if best is None or candidate[:2] > best[:2]:
            best = candidate
    if best is None:
        return
    rank, _, sent = best
    sent.converted = True
    conversion = campaigns.get(sent.campaign).campaign.conversion
    revenue = _revenue(event.props.get(conversion.revenue)) if conversion.revenue else 0.0
    kind = "click" if rank == 1 else "view" if rank == 0 else "control"
    out.add(Conversion(sent.campaign, state.user, event.ts, sent.message_id, kind, revenue, sent.variant))


def _revenue(value: object) -> float:
    if isinstance(value, bool):
        return 0.0
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return 0.0
    return 0.0
