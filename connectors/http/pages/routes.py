"""GET /campaigns and GET /campaigns/{id}: the campaign pages, behind the admin token.

A browser gets in one of three ways (checked in this order):
- `Authorization: Bearer <token>` (scripts, like every admin route);
- HTTP Basic with the token as the password (any user name): the 401 asks for it, so a
  browser shows its login prompt;
- a cookie: the first visit to `/campaigns?token=<token>` sets an HttpOnly,
  SameSite=Strict cookie and redirects to the same page without the token (so it stays
  out of history and logs). The cookie holds an HMAC of the token, never the token,
  and no page ever shows the token.

Reach scans every stored user, so it is counted only when asked (`?reach=1` on a
campaign's page) and the last answer per campaign is kept in memory for the list.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from aiohttp import web

from connectors.http.context import context, is_admin
from connectors.http.errors import ApiError
from connectors.http.pages.info import describe
from connectors.http.pages.render import campaign_page, list_page, message_page
from engine.core.isotime import iso
from engine.shell.stats import campaign_stats

COOKIE = "pushcast_admin"
COOKIE_PATH = "/campaigns"
REACH = web.AppKey("pushcast_page_reach", dict)  # campaign id -> last reach, as a dict
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
                               "frame-ancestors 'none'; form-action 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def session_value(token: str) -> str:
    """The cookie's value: proves the token was given, cannot be turned back into it."""
    return hmac.new(token.encode(), b"pushcast campaign page", hashlib.sha256).hexdigest()


def _basic_password(request: web.Request) -> bytes | None:
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    return decoded.partition(b":")[2]


def signed_in(request: web.Request) -> bool:
    token = context(request).admin_token
    if is_admin(request):
        return True
    password = _basic_password(request)
    if password is not None:
        return hmac.compare_digest(password, token.encode())
    cookie = request.cookies.get(COOKIE, "")
    return hmac.compare_digest(cookie.encode("utf-8", "surrogateescape"), session_value(token).encode())


def html(text: str, status: int = 200, headers: dict | None = None) -> web.Response:
    return web.Response(status=status, text=text, content_type="text/html", charset="utf-8",
                        headers={**HEADERS, **(headers or {})})


def _unauthorized() -> web.Response:
    return html(message_page("Sign in", "This page needs the admin token: give it as the password when the browser "
                                        "asks (any user name), or open /campaigns?token=… once to keep it in a "
                                        "cookie for this site."),
                401, {"WWW-Authenticate": 'Basic realm="pushcast", charset="UTF-8"'})


def _signed_in_or_response(request: web.Request) -> web.Response | None:
    """None when the request may see the page; else the answer to give instead."""
    given = request.query.get("token")
    if given is not None:
        token = context(request).admin_token
        if not hmac.compare_digest(given.encode("utf-8", "surrogateescape"), token.encode()):
            return _unauthorized()
        query = {k: v for k, v in request.query.items() if k != "token"}
        location = str(request.rel_url.with_query(query)) if query else request.path
        response = web.Response(status=303, headers={**HEADERS, "Location": location})
        response.set_cookie(COOKIE, session_value(token), path=COOKIE_PATH, httponly=True, samesite="Strict",
                            secure=request.secure)
        return response
    return None if signed_in(request) else _unauthorized()


async def _stats(request: web.Request, campaign_id: str | None):
    """The runtime's stats; a 503 page when it cannot answer (the gateway's workers)."""
    runtime = context(request).runtime
    try:
        if campaign_id is None:
            return await runtime.all_stats(), None
        return await runtime.stats(campaign_id), None
    except ApiError as exc:
        return None, html(message_page("Stats unavailable", exc.message), exc.status)


async def campaigns_page(request: web.Request) -> web.Response:
    refused = _signed_in_or_response(request)
    if refused is not None:
        return refused
    runtime = context(request).runtime
    campaigns = runtime.campaigns
    everything, failed = await _stats(request, None)
    if failed is not None:
        return failed
    now = runtime.clock.now()
    reach = request.app[REACH]
    rows = [{"info": describe(compiled, now), "stats": everything.get(compiled.id) or campaign_stats(compiled.id, {}),
             "reach": reach.get(compiled.id)}
            for compiled in sorted(campaigns.by_id.values(), key=lambda c: (c.campaign.name.lower(), c.id))]
    return html(list_page(rows))


async def campaign_detail(request: web.Request) -> web.Response:
    refused = _signed_in_or_response(request)
    if refused is not None:
        return refused
    campaign_id = request.match_info["id"]
    runtime = context(request).runtime
    stats, failed = await _stats(request, campaign_id)
    if failed is not None:
        return failed
    if stats is None:
        return html(message_page("No such campaign", f"No campaign {campaign_id!r} is loaded or was ever counted."),
                    404)
    compiled = runtime.campaigns.get(campaign_id)
    now = runtime.clock.now()
    info = describe(compiled, now) if compiled is not None else {"id": campaign_id, "name": campaign_id,
                                                                  "status": "not loaded"}
    reach_cache = request.app[REACH]
    if request.query.get("reach") == "1" and compiled is not None:
        try:
            found = await runtime.reach(compiled)
        except ApiError as exc:
            return html(message_page("Reach unavailable", exc.message), exc.status)
        reach_cache[campaign_id] = {**found.to_dict(), "at": iso(found.at)}
    return html(campaign_page(info, stats, reach_cache.get(campaign_id), request.query.get("by")))


def add_routes(app: web.Application) -> None:
    app[REACH] = {}
    app.router.add_get("/campaigns", campaigns_page)
    app.router.add_get("/campaigns/{id}", campaign_detail)
