"""POST /v1/events: one event object or a JSON array of them.

The whole batch is validated before anything is stored: one bad item refuses the batch
(HTTP 400 naming the item's index and field), so a client can fix and resend it whole.
The answer comes after the batch is committed to disk: a 200 means it is kept.
"""

from __future__ import annotations

from aiohttp import web

from connectors.http.body import read_json
from connectors.http.browser import verify_identity
from connectors.http.context import context, is_admin
from connectors.http.errors import ApiError, ok
from engine.core import EventError
from engine.shell.validate import validate_event

MAX_BODY = 1024 * 1024
MAX_ITEMS = 1000


async def post_events(request: web.Request) -> web.Response:
    ctx = context(request)
    admin = is_admin(request)
    if not admin and not ctx.open_events:
        raise ApiError(401, "POST /v1/events needs Authorization: Bearer <admin_token>",
                       headers={"WWW-Authenticate": 'Bearer realm="pushcast"'})
    data = await read_json(request, MAX_BODY)
    items = data if isinstance(data, list) else [data]
    single = not isinstance(data, list)
    if len(items) > MAX_ITEMS:
        raise ApiError(413, f"batch of {len(items)} events: at most {MAX_ITEMS} per request")
    if not items:
        raise ApiError(400, "empty batch: send an event object or a non-empty array")
    now = ctx.runtime.clock.now()
    parsed = []
    for index, raw in enumerate(items):
        # user_hash rides along in each event (the SDK sends it); it is not an event field.
        given = raw.pop("user_hash", None) if isinstance(raw, dict) else None
        claimed = raw.get("user") if isinstance(raw, dict) else None
        if not admin and isinstance(claimed, str):  # who speaks, before what they say
            try:  # the admin token speaks for every user
                verify_identity(request, claimed, given, index=None if single else index)
            except ApiError:
                _rejected(ctx, len(items))
                raise
        try:
            event = validate_event(raw, now, ctx.allowlist, ctx.runtime.campaigns.config.max_event_ahead * 1000)
        except EventError as exc:
            _rejected(ctx, len(items))
            raise ApiError(400, str(exc), field=exc.field, index=None if single else index) from None
        if not admin and event.name.startswith("$"):
            _rejected(ctx, len(items))
            raise ApiError(403, f"{event.name}: reserved events need the admin token", field="event",
                           index=None if single else index)
        parsed.append(event)
    await ctx.runtime.submit(parsed)
    if ctx.metrics is not None:
        ctx.metrics.events_accepted.labels("http").inc(len(parsed))
    return ok({"accepted": len(parsed)})


def _rejected(ctx, count: int) -> None:
    if ctx.metrics is not None:
        ctx.metrics.events_rejected.labels("http").inc(count)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/events", post_events)
    app.router.add_route("OPTIONS", "/v1/events", post_events)
