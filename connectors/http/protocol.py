"""What the HTTP routes ask of a runtime, in one place: `context(request).runtime`.

Two runtimes implement it: the embedded one (`engine.local.api.EmbeddedApi`, over SQLite)
and the gateway (`engine.gateway.api.KafkaApi`, over Kafka workers), so the same routes,
bodies, answers and errors serve both. A method may raise `ApiError` for an answer only
its runtime can give (the gateway's 503 when the workers do not answer in time).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from engine.core.campaigns import CampaignSet, CompiledCampaign
from engine.core.state import UserState
from engine.shell.reach import Reach


@runtime_checkable
class RuntimeApi(Protocol):
    @property
    def campaigns(self) -> CampaignSet:
        """The campaigns loaded now."""

    @property
    def clock(self):
        """`now()` in epoch ms; `settable` (and `advance`/`set`) for a test clock."""

    @property
    def secret(self) -> bytes:
        """The key of tracking signatures (`engine.shell.tracking`)."""

    async def submit(self, items: list) -> object:
        """Apply validated `Event`s and `Report`s; returns once they are durable."""

    async def stats(self, campaign_id: str) -> dict | None:
        """The campaign's exact stats; None: no such campaign (404)."""

    async def all_stats(self) -> dict[str, dict]:
        """{campaign: its exact stats} for every campaign ever counted, in one question."""

    async def reach(self, compiled: CompiledCampaign) -> Reach:
        """Who qualifies now and who is reachable, over every stored user."""

    async def send_test(self, campaign_id: str, user: str | None) -> dict:
        """Send now to the test profiles (or `user`); raises UnknownCampaign, NotATestUser."""

    async def user_state(self, user: str) -> UserState | None:
        """The user's stored state, after everything acknowledged before the call."""

    async def clock_moved(self) -> int:
        """After a test clock move: the timers fired."""

    def health(self) -> dict:
        """Extra fields of GET /healthz."""

    def update_gauges(self, metrics) -> None:
        """Refresh gauges before GET /metrics."""
