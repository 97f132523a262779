"""The pure rule core: per-user state in, new state and effects out. No I/O, no clock."""

from engine.core.campaigns import CampaignSet
from engine.core.effects import (
    Conversion, Effects, Notify, Qualified, Queued, Released, Subscription, Suppressed, Wake,
)
from engine.core.events import Event, EventError, parse_event
from engine.core.process import process_event, process_wake
from engine.core.state import UserState

__all__ = [
    "CampaignSet", "Conversion", "Effects", "Event", "EventError", "Notify", "Qualified",
    "Queued", "Released", "Subscription", "Suppressed", "UserState", "Wake", "parse_event", "process_event",
    "process_wake",
]
