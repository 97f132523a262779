"""What the browser calls: its subscription (from `pushcast.js`), shown/clicked reports
(from the service worker), the VAPID public key, and the SDK files themselves.

These routes take CORS from `site_origins` only and a per-address rate limit. Their
input is untrusted: a subscription must be a valid `PushSubscription.toJSON()` on an
allow-listed push service; with identity_secret set, a route that names a user needs
that user's `user_hash` (engine.shell.identity); a report must carry the signature the
message was sent with (`sig`, over message, campaign and user: engine.shell.tracking)
and be about a message the store still holds, so stats cannot be forged or moved.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import web

from connectors.http.body import only_keys, read_json, string_field
from connectors.http.context import context
from connectors.http.errors import ApiError, ok
from connectors.push.allowlist import normalize_endpoint
from engine.core import Event, EventError
from engine.shell.identity import IdentityRefused, verify_user
from engine.shell.inputs import Report
from engine.shell.tracking import check_signature
from engine.shell.validate import check_subscription

MAX_BODY = 16 * 1024
ROUTES = frozenset({"/v1/subscriptions", "/v1/track", "/v1/vapid-public-key", "/v1/events"})


def _time_zone(data: dict) -> str | None:
    """The browser's IANA time zone, so DND hours and local delivery use the visitor's
    clock. The one profile field a browser may set: it cannot grant anything."""
    if "tz" not in data:
        return None
    tz = string_field(data, "tz", max_length=64)
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ApiError(400, f"tz: not an IANA time zone: {tz!r}", field="tz") from None
    return tz


def verify_identity(request: web.Request, user: str, given: object, index: int | None = None) -> None:
    """With identity_secret set, `user_hash` must prove the caller may speak for `user`
    (401 missing, 403 wrong; the error names user_hash)."""
    try:
        verify_user(context(request).identity_secret, user, given)
    except IdentityRefused as exc:
        raise ApiError(exc.status, exc.message, field=exc.field, index=index) from None


async def _user_and_subscription(request: web.Request, deleting: bool) -> tuple[str, dict, str | None]:
    data = only_keys(await read_json(request, MAX_BODY), ("user", "user_hash", "subscription", "endpoint", "tz"),
                     "{user, user_hash?, subscription, tz?}")
    user = string_field(data, "user")
    verify_identity(request, user, data.get("user_hash"))
    tz = _time_zone(data)
    if deleting and "subscription" not in data:
        return user, {"endpoint": normalize_endpoint(string_field(data, "endpoint", max_length=2048))}, tz
    if "subscription" not in data:
        raise ApiError(400, "subscription: required, the browser's PushSubscription.toJSON()", field="subscription")
    if deleting:
        sub = data["subscription"]
        if not isinstance(sub, dict):
            raise ApiError(400, "subscription: expected an object with endpoint", field="subscription")
        return user, {"endpoint": normalize_endpoint(string_field(sub, "endpoint", max_length=2048))}, tz
    try:
        return user, check_subscription(data["subscription"], context(request).allowlist, field="subscription"), tz
    except EventError as exc:
        raise ApiError(400, str(exc), field=exc.field) from None


async def post_subscription(request: web.Request) -> web.Response:
    user, props, tz = await _user_and_subscription(request, deleting=False)
    ctx = context(request)
    now = ctx.runtime.clock.now()
    events = [Event(user, "$profile", now, {"tz": tz})] if tz else []
    await ctx.runtime.submit(events + [Event(user, "$push_subscribe", now, props)])
    return ok({"subscribed": True}, status=201)


async def delete_subscription(request: web.Request) -> web.Response:
    user, props, _ = await _user_and_subscription(request, deleting=True)
    ctx = context(request)
    await ctx.runtime.submit([Event(user, "$push_unsubscribe", ctx.runtime.clock.now(), props)])
    return ok({"subscribed": False})


TRACK_KEYS = ("message", "campaign", "user", "variant", "action", "type", "sig")


async def post_track(request: web.Request) -> web.Response:
    ctx = context(request)
    data = only_keys(await read_json(request, MAX_BODY), TRACK_KEYS,
                     "{message, campaign, user, variant, action, type: shown|clicked, sig}")
    message = string_field(data, "message", max_length=64)
    # Signed together with the message id: a report cannot name another campaign or user.
    campaign = string_field(data, "campaign", required=False, max_length=64) or ""
    user = string_field(data, "user", required=False) or ""
    variant = string_field(data, "variant", required=False, max_length=64) or ""  # signed too, when set
    action = data.get("action") or ""
    if not isinstance(action, str) or len(action) > 64:
        raise ApiError(400, "action: expected the action button's name (a string) or empty", field="action")
    kind = data.get("type")
    if kind not in ("shown", "clicked"):
        raise ApiError(400, f"type: expected shown or clicked, got {kind!r}", field="type")
    sig = string_field(data, "sig", max_length=128)
    if not check_signature(ctx.runtime.secret, message, campaign, user, sig, variant):
        raise ApiError(403, "sig: not the signature this message was sent with (for this message, campaign, "
                            "user and variant)", field="sig")
    replies = await ctx.runtime.submit([Report(message, kind, campaign, user, action, variant)])
    if any(reply.get("outcome") == "unknown" for reply in replies):
        raise ApiError(410, f"message: {message} is no longer kept (reports count only within the 7-day "
                            "de-duplication horizon); not counted", field="message")
    return web.Response(status=204)


async def vapid_public_key(request: web.Request) -> web.Response:
    return ok({"publicKey": context(request).vapid_public_key})


async def options(request: web.Request) -> web.Response:
    return web.Response(status=204)  # the middleware answers preflights before this


async def demo_page(request: web.Request) -> web.StreamResponse:
    sdk = context(request).sdk_dir
    page = sdk / "demo.html" if sdk is not None else None
    if page is None or not page.is_file():
        return web.Response(text="pushcast is running. The demo page (sdk/demo.html) is not installed.\n")
    return web.FileResponse(page)


async def service_worker(request: web.Request) -> web.StreamResponse:
    """/pushcast-sw.js, and /pushcast-core.js that it imports from next to itself."""
    name = request.path.lstrip("/")
    sdk = context(request).sdk_dir
    worker = sdk / name if sdk is not None else None
    if worker is None or not worker.is_file():
        raise ApiError(404, f"sdk/{name} is not installed")
    return web.FileResponse(worker, headers={"Content-Type": "text/javascript"})


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_post("/v1/subscriptions", post_subscription)
    r.add_delete("/v1/subscriptions", delete_subscription)
    r.add_route("OPTIONS", "/v1/subscriptions", options)
    r.add_post("/v1/track", post_track)
    r.add_route("OPTIONS", "/v1/track", options)
    r.add_get("/v1/vapid-public-key", vapid_public_key)
    r.add_get("/", demo_page)
    r.add_get("/pushcast-sw.js", service_worker)
    r.add_get("/pushcast-core.js", service_worker)


SDK_TYPES = {".js": "text/javascript", ".mjs": "text/javascript", ".html": "text/html"}


async def sdk_file(request: web.Request) -> web.StreamResponse:
    """One file of the SDK folder, by name: the folder is flat, so no path with a
    separator, no dot file, no symlink (a 404 with a JSON error, like every route)."""
    name = request.match_info["file"]
    sdk = context(request).sdk_dir
    plain = name and not name.startswith(".") and not any(c in name for c in "/\\\x00")
    path = sdk / name if sdk is not None and plain else None
    try:
        found = path is not None and not path.is_symlink() and path.is_file()
    except OSError:  # a name too long for the file system, ...
        found = False
    if not found:
        raise ApiError(404, f"{name!r}: no such file in the SDK folder")
    return web.FileResponse(path, headers={"Content-Type": SDK_TYPES.get(path.suffix, "application/octet-stream")})


def add_sdk(app: web.Application, sdk_dir) -> None:
    """Serve the SDK folder at /sdk/ (the middleware lets its service worker claim /)."""
    if sdk_dir is not None and sdk_dir.is_dir():
        app.router.add_get("/sdk/{file}", sdk_file)
