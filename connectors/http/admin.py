"""Admin routes (bearer token): campaigns, their stats, reach and test sends, a user's
state and decision log, reload, the test clock; and the open operational ones: /metrics and /healthz."""

from __future__ import annotations

import math

import orjson
from aiohttp import web

from connectors.http.body import only_keys, read_json, string_field
from connectors.http.context import context, require_admin
from connectors.http.errors import ApiError, ok
from prometheus_client import CONTENT_TYPE_LATEST
from engine.core.isotime import iso, parse_iso
from engine.core.decisions import entries
from engine.core.send_test import NotATestUser, UnknownCampaign
from engine.shell.explain import describe, explain_lines

# The test clock's end: far past any test, well inside what dates and the store can hold
# (a clock past every date would fail each batch it stamps).
CLOCK_LIMIT_MS = parse_iso("2200-01-01T00:00:00Z")
# One move makes every scheduled run it passes before it answers: decades of a weekly
# campaign would hold the request (and the writer) for minutes.
MAX_CLOCK_MOVE_S = 366 * 24 * 3600


def _check_target(target: int, now: int, field: str) -> None:
    """Checked before the clock moves, so a refused move changes nothing."""
    if target > CLOCK_LIMIT_MS:
        raise ApiError(400, f"{field}: the test clock stops at {iso(CLOCK_LIMIT_MS)}", field=field)
    if target - now > MAX_CLOCK_MOVE_S * 1000:
        raise ApiError(400, f"{field}: at most 366 days ahead per move (the clock reads {iso(now)})", field=field)


def _describe(campaign) -> dict:
    trigger = campaign.trigger
    return {
        "id": campaign.id,
        "name": campaign.name,
        "status": campaign.status,
        "kind": "live" if trigger is not None else "scheduled",
        "trigger": getattr(trigger, "event", None),
        "file": campaign.position.file if campaign.position is not None else None,
    }


async def list_campaigns(request: web.Request) -> web.Response:
    require_admin(request)
    runtime = context(request).runtime
    return ok({"campaigns": [_describe(c) for c in runtime.campaigns.campaigns]})


async def get_stats(request: web.Request) -> web.Response:
    require_admin(request)
    campaign_id = request.match_info["id"]
    stats = await context(request).runtime.stats(campaign_id)
    if stats is None:
        raise ApiError(404, f"no campaign {campaign_id!r} (GET /v1/campaigns lists them)")
    return ok(stats)


async def post_reach(request: web.Request) -> web.Response:
    """How many stored users qualify for the campaign now, and how many are reachable."""
    require_admin(request)
    runtime = context(request).runtime
    campaigns = runtime.campaigns
    compiled = campaigns.get(request.match_info["id"])
    if compiled is None:
        raise ApiError(404, f"no campaign {request.match_info['id']!r} (GET /v1/campaigns lists them)")
    found = await runtime.reach(compiled)
    return ok({**found.to_dict(), "at": iso(found.at)})


async def send_test_user(request: web.Request) -> str | None:
    """The `user` of a send-test body; None (no body, or `{}`): every test profile."""
    if not request.can_read_body:
        return None
    raw = await request.read()
    if not raw.strip():
        return None
    try:
        data = only_keys(orjson.loads(raw), ("user",), '{"user": "qa-1"} or {}')
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"invalid JSON: {exc}") from None
    return string_field(data, "user", required=False)


async def post_send_test(request: web.Request) -> web.Response:
    """Send the campaign now to the test profiles (or one of them), as a test."""
    require_admin(request)
    runtime = context(request).runtime
    user = await send_test_user(request)
    try:
        result = await runtime.send_test(request.match_info["id"], user)
    except UnknownCampaign as exc:
        raise ApiError(404, str(exc)) from None
    except NotATestUser as exc:
        raise ApiError(400, str(exc), field="user") from None
    return ok(result)


async def get_user(request: web.Request) -> web.Response:
    """One user's stored state (profile, subscriptions, pending waits, recent sends)."""
    require_admin(request)
    user = request.match_info["user"]
    state = await context(request).runtime.user_state(user)
    if state is None:
        raise ApiError(404, f"no state for user {user!r}")
    return ok({
        "user": state.user,
        "profile": state.profile,
        "subscriptions": sorted(state.subscriptions),
        "waits": [{"campaign": w.campaign, "kind": w.kind, "due": iso(w.due), "message": w.message_id}
                  for w in sorted(state.waits, key=lambda w: w.due)],
        "sent": [{"campaign": s.campaign, "message": s.message_id, "at": iso(s.at),
                  "delivered": bool(s.delivered), "clicked": bool(s.clicked), "converted": s.converted}
                 for s in state.sent],
    })


async def get_decisions(request: web.Request) -> web.Response:
    """The user's decision log (oldest first; `?campaign=` keeps one campaign's), as JSON
    or, with `?format=text`, the lines `pushcast explain` prints."""
    require_admin(request)
    user = request.match_info["user"]
    campaign = request.query.get("campaign") or None
    form = request.query.get("format", "json")
    if form not in ("json", "text"):
        raise ApiError(400, f"format: expected json or text, got {form!r}", field="format")
    state = await context(request).runtime.user_state(user)
    if state is None:
        raise ApiError(404, f"no state for user {user!r}")
    found = entries(state, campaign, context(request).runtime.campaigns)
    if form == "text":
        return web.Response(text="\n".join(explain_lines(found, user, campaign)) + "\n")
    keep = context(request).runtime.campaigns.config.decision_log
    return ok({"user": user, "log_size": keep, "decisions": [
        {**e.to_dict(), "at": iso(e.at), "text": describe(e)} for e in found]})


async def post_clock(request: web.Request) -> web.Response:
    require_admin(request)
    runtime = context(request).runtime
    clock = runtime.clock
    if not clock.settable:
        raise ApiError(404, "the clock can be moved only in a runtime started with --test-clock")
    data = only_keys(await read_json(request, 4096), ("advance", "set"), '{"advance": seconds} or {"set": ISO 8601}')
    if len(data) != 1:
        raise ApiError(400, 'expected exactly one of "advance" (seconds) or "set" (ISO 8601)')
    try:
        if "advance" in data:
            seconds = data["advance"]
            if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
                raise ApiError(400, f"advance: expected seconds (a number), got {seconds!r}", field="advance")
            if not math.isfinite(seconds) or seconds > MAX_CLOCK_MOVE_S:
                raise ApiError(400, f"advance: at most {MAX_CLOCK_MOVE_S} seconds (366 days) per move, "
                                    f"got {seconds!r}", field="advance")
            _check_target(clock.now() + round(seconds * 1000), clock.now(), "advance")
            clock.advance(seconds)
        else:
            text = data["set"]
            if not isinstance(text, str):
                raise ApiError(400, f"set: expected an ISO 8601 datetime, got {text!r}", field="set")
            try:
                at = parse_iso(text)
            except (ValueError, OverflowError):
                raise ApiError(400, f"set: expected an ISO 8601 datetime, got {text!r}", field="set") from None
            _check_target(at, clock.now(), "set")
            clock.set(at)
    except ValueError as exc:
        raise ApiError(400, str(exc)) from None
    fired = await runtime.clock_moved()
    return ok({"now": iso(clock.now()), "now_ms": clock.now(), "timers_fired": fired})


async def post_reload(request: web.Request) -> web.Response:
    require_admin(request)
    watcher = context(request).watcher
    if watcher is None:
        raise ApiError(404, "no campaign folder is watched")
    problems: list[str] = []
    reloaded = await watcher.reload_async(problems)  # off the event loop: a big file takes seconds
    return ok({"reloaded": reloaded, "problems": problems,
               "campaigns": sorted(context(request).runtime.campaigns.by_id)})


async def metrics(request: web.Request) -> web.Response:
    ctx = context(request)
    if ctx.metrics is None:
        raise ApiError(404, "metrics are off")
    ctx.runtime.update_gauges(ctx.metrics)
    body = ctx.metrics.exposition()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def healthz(request: web.Request) -> web.Response:
    runtime = context(request).runtime
    return ok({"status": "ok", "now": iso(runtime.clock.now()), "campaigns": len(runtime.campaigns.by_id),
               **runtime.health()})


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/v1/campaigns", list_campaigns)
    r.add_get("/v1/campaigns/{id}/stats", get_stats)
    r.add_post("/v1/campaigns/{id}/reach", post_reach)
    r.add_post("/v1/campaigns/{id}/send-test", post_send_test)
    r.add_get("/v1/users/{user}", get_user)
    r.add_get("/v1/users/{user}/decisions", get_decisions)
    r.add_post("/v1/admin/clock", post_clock)
    r.add_post("/v1/admin/reload", post_reload)
    r.add_get("/metrics", metrics)
    r.add_get("/healthz", healthz)
