"""`KafkaApi`: what the HTTP routes (`connectors.http`, the `RuntimeApi` protocol) ask of
a runtime, answered over Kafka, for `pushcast gateway`.

- events and reports: records of the events topic (producer.py), acknowledged by Kafka
  before the route answers;
- reach, test sends, a user's state: questions to the workers owning the partitions,
  answered on the replies topic (engine/agents/reach.py, send_test.py): every partition
  once for reach, the user's own partition for a user, in the partition's order, so an
  answer counts every event acknowledged before the question;
- stats: every partition once, its owner answering the partition's running totals
  (engine/agents/stats.py), summed, in the embedded runtime's JSON.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiokafka.errors import KafkaError

from connectors.http.errors import ApiError
from engine.agents.reach import ReachError, request_reach, request_user_state
from engine.agents.send_test import TestSendError, request_test_send
from engine.agents.stats import StatsError, request_stats
from engine.core import Event
from engine.core.campaigns import CampaignSet, CompiledCampaign
from engine.core.send_test import unknown_campaign
from engine.core.state import UserState
from engine.gateway.producer import EventProducer, encode_event, report_record
from engine.gateway.reports import claim_key
from engine.shell.inputs import Report
from engine.shell.reach import Reach
from engine.shell.stats import campaign_stats

TIMEOUT = 30.0  # seconds to wait for the workers' answers


@dataclass(frozen=True)
class Topics:
    bootstrap: str
    events: str
    replies: str


class KafkaApi:
    def __init__(self, topics: Topics, campaigns, producer: EventProducer, secret: bytes, clock, claims,
                 timeout: float = TIMEOUT):
        self.topics = topics
        self._campaigns = campaigns  # engine.shell.reload.CampaignReloader: () -> CampaignSet
        self.producer = producer
        self._secret = secret
        self._clock = clock
        self.claims = claims  # reports.RedisReportClaims | MemoryReportClaims
        self.timeout = timeout

    @property
    def campaigns(self) -> CampaignSet:
        return self._campaigns()

    @property
    def clock(self):
        return self._clock

    @property
    def secret(self) -> bytes:
        return self._secret

    async def submit(self, items: list) -> list[dict]:
        """Events and reports into the events topic; returns once Kafka acknowledged all."""
        now = self._clock.now()
        records, claimed = [], []
        for item in items:
            if isinstance(item, Event):
                records.append(encode_event(item))
            elif isinstance(item, Report):
                if not item.user:
                    # The embedded runtime finds the user in its outbox; here the report must
                    # name them (the signed payload carries `user`), to reach their partition.
                    raise ApiError(400, "user: required, the `user` of the notification's payload", field="user")
                key = claim_key(item.message_id, item.kind)
                if not await self.claims.claim(key):
                    continue  # reported already: counted once, as the embedded runtime does
                claimed.append(key)
                records.append(report_record(item, now))
            else:
                raise TypeError(f"cannot submit {type(item).__name__} through the gateway")
        try:
            await self.producer.produce(records)
        except Exception as exc:
            for key in claimed:  # not in Kafka: a retried report must go through
                await self.claims.release(key)
            if isinstance(exc, KafkaError):
                raise ApiError(503, f"Kafka did not acknowledge the events ({type(exc).__name__}): they are "
                                    "not accepted; send them again (records already written are kept "
                                    "twice then)", headers={"Retry-After": "1"}) from None
            raise
        return []

    async def stats(self, campaign_id: str) -> dict | None:
        """The campaign's exact stats (every event acknowledged before counted); None (404)
        when it is neither loaded nor ever counted, as in the embedded runtime."""
        t = self.topics
        try:
            winners: dict = {}
            held: dict = {}
            stored = await request_stats(t.bootstrap, t.events, t.replies, campaign_id, timeout=self.timeout,
                                         winners=winners, engagement=held)
        except StatsError as exc:
            raise ApiError(503, str(exc)) from None
        if self.campaigns.get(campaign_id) is None and not stored:
            return None
        return campaign_stats(campaign_id, stored.get(campaign_id, {}), winners.get(campaign_id), held.get(campaign_id))

    async def all_stats(self) -> dict[str, dict]:
        """Every campaign's stats in one question to the partitions (the campaign page's list)."""
        t = self.topics
        try:
            stored = await request_stats(t.bootstrap, t.events, t.replies, None, timeout=self.timeout)
        except StatsError as exc:
            raise ApiError(503, str(exc)) from None
        return {name: campaign_stats(name, metrics) for name, metrics in stored.items()}

    async def reach(self, compiled: CompiledCampaign) -> Reach:
        t = self.topics
        try:
            return await request_reach(t.bootstrap, t.events, t.replies, compiled.id, self._clock.now(),
                                       timeout=self.timeout)
        except ReachError as exc:
            raise ApiError(503, str(exc)) from None

    async def send_test(self, campaign_id: str, user: str | None) -> dict:
        campaigns = self.campaigns
        if campaigns.get(campaign_id) is None:
            raise unknown_campaign(campaign_id, campaigns.by_id)
        t = self.topics
        try:
            return await request_test_send(t.bootstrap, t.events, t.replies, campaign_id, user, self._clock.now(),
                                           timeout=self.timeout)
        except TestSendError as exc:
            raise ApiError(503, str(exc)) from None

    async def user_state(self, user: str) -> UserState | None:
        """Asked in the user's partition (engine.agents.reach.request_user_state)."""
        t = self.topics
        answered, state = await request_user_state(t.bootstrap, t.events, t.replies, user, self._clock.now(),
                                                   self.timeout)
        if not answered:
            raise ApiError(503, f"no answer about user {user!r} within {self.timeout:g}s "
                                "(are the workers running, and with this --topic-prefix?)")
        return UserState.loads(state) if state is not None else None

    async def clock_moved(self) -> int:
        return 0  # never called: the gateway's clock is not settable (the route answers 404)

    def health(self) -> dict:
        return {"runtime": "gateway", "kafka": self.topics.bootstrap, "events_topic": self.topics.events}

    def update_gauges(self, metrics) -> None:
        pass  # the gateway keeps no queue or timers: its metrics are counters
