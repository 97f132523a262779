"""Small builders for core tests: campaigns from YAML text, events at minute offsets."""

from __future__ import annotations

from datetime import datetime, timezone

from engine.core import CampaignSet, Event
from engine.rules.loader import parse_campaign
from engine.rules.model import GlobalConfig
from engine.testing.simulator import Simulation

T0 = int(datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc).timestamp() * 1000)
MIN = 60_000
HOUR = 60 * MIN
DAY = 24 * HOUR
SUBSCRIPTION = {
    "endpoint": "https://fcm.googleapis.com/fcm/send/abc",
    "keys": {"p256dh": "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
             "auth": "BTBZMqHH6r4Tts7J_aSIgg"},
}


def campaigns(*texts: str, config: GlobalConfig | None = None) -> CampaignSet:
    return CampaignSet([parse_campaign(text) for text in texts], config)


def ev(at_ms: int, name: str, user: str = "u1", **props) -> tuple[int, Event]:
    return at_ms, Event(user, name, at_ms, props)


def subscribed(user: str = "u1", at_ms: int = T0, **profile) -> list[tuple[int, Event]]:
    events = [ev(at_ms, "$push_subscribe", user, **SUBSCRIPTION)]
    if profile:
        events.insert(0, ev(at_ms, "$profile", user, **profile))
    return events


def simulate(campaign_set: CampaignSet, events, until_ms: int) -> Simulation:
    sim = Simulation(campaign_set, started=T0)
    sim.run(sorted(events, key=lambda pair: pair[0]), until_ms)
    return sim
