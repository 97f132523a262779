"""The worker API (`pushcast worker --api-port N`): campaign stats, reach and test sends over HTTP, with
the request and response JSON of the embedded runtime's admin routes
(connectors/http/admin.py) and its bearer-token check and JSON errors.

Any worker answers for all of them: every route is a request to the partitions' owners
through Kafka (stats.py, reach.py, send_test.py), so a load balancer may pick any worker.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from connectors.http.admin import send_test_user
from connectors.http.app import middleware
from connectors.http.context import CTX, ApiContext, context, require_admin
from connectors.http.errors import ApiError, ok
from engine.agents.reach import ReachError, request_reach
from engine.agents.send_test import TestSendError, request_test_send
from engine.agents.stats import StatsError, request_stats
from engine.core.send_test import NotATestUser, UnknownCampaign, unknown_campaign
from engine.core.isotime import iso
from engine.shell.stats import campaign_stats

log = logging.getLogger(__name__)

TIMEOUT = 30.0  # seconds to wait for the workers' answers


def _known_campaign(request: web.Request) -> str:
    """The route's campaign id; 404 when this worker has not loaded it."""
    campaign = request.match_info["id"]
    campaigns = context(request).runtime.campaigns()
    if campaigns.get(campaign) is None:
        raise ApiError(404, str(unknown_campaign(campaign, campaigns.by_id)))
    return campaign


async def get_stats(request: web.Request) -> web.Response:
    """The campaign's exact stats, summed over one answer per partition; 404 when the
    campaign is neither loaded nor ever counted (as `pushcast run` answers)."""
    require_admin(request)
    campaign = request.match_info["id"]
    runtime = context(request).runtime
    s = runtime.settings
    winners: dict = {}
    held: dict = {}
    try:
        stored = await request_stats(s.bootstrap, s.events_topic, s.reach_replies_topic, campaign, timeout=TIMEOUT,
                                     winners=winners, engagement=held)
    except StatsError as exc:
        raise ApiError(503, str(exc)) from None
    if runtime.campaigns().get(campaign) is None and not stored:
        raise ApiError(404, f"no campaign {campaign!r} (GET /v1/campaigns lists them)")
    return ok(campaign_stats(campaign, stored.get(campaign, {}), winners.get(campaign), held.get(campaign)))


async def post_reach(request: web.Request) -> web.Response:
    """How many users qualify for the campaign now, and how many are reachable."""
    require_admin(request)
    campaign = _known_campaign(request)
    runtime = context(request).runtime
    s = runtime.settings
    try:
        found = await request_reach(s.bootstrap, s.events_topic, s.reach_replies_topic, campaign,
                                    runtime.clock.now(), timeout=TIMEOUT)
    except ReachError as exc:
        raise ApiError(503, str(exc)) from None
    return ok({**found.to_dict(), "at": iso(found.at)})


async def post_send_test(request: web.Request) -> web.Response:
    """Send the campaign now to the test profiles (or one of them), as a test."""
    require_admin(request)
    campaign = _known_campaign(request)
    user = await send_test_user(request)
    runtime = context(request).runtime
    s = runtime.settings
    try:
        result = await request_test_send(s.bootstrap, s.events_topic, s.reach_replies_topic, campaign, user,
                                         runtime.clock.now(), timeout=TIMEOUT)
    except UnknownCampaign as exc:
        raise ApiError(404, str(exc)) from None
    except NotATestUser as exc:
        raise ApiError(400, str(exc), field="user") from None
    except TestSendError as exc:
        raise ApiError(503, str(exc)) from None
    return ok(result)


def build_api(runtime, admin_token: str) -> web.Application:
    app = web.Application(middlewares=[middleware])
    app[CTX] = ApiContext(runtime=runtime, allowlist=None, admin_token=admin_token, vapid_public_key="")
    app.router.add_get("/v1/campaigns/{id}/stats", get_stats)
    app.router.add_post("/v1/campaigns/{id}/reach", post_reach)
    app.router.add_post("/v1/campaigns/{id}/send-test", post_send_test)
    return app


class WorkerApi:
    """Serves `build_api` while the worker runs (a Faust app task)."""

    def __init__(self, runtime):
        self.runtime = runtime

    async def run(self) -> None:
        s = self.runtime.settings
        if not s.admin_token:
            raise ValueError("the worker API needs an admin token (pushcast.yaml admin_token or $PUSHCAST_ADMIN_TOKEN)")
        runner = web.AppRunner(build_api(self.runtime, s.admin_token), access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, s.api_host, s.api_port).start()
            log.warning("worker API on http://%s:%d", s.api_host, s.api_port)
            await asyncio.Event().wait()  # until the worker stops (the task is cancelled)
        finally:
            await runner.cleanup()
