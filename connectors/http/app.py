"""The aiohttp application: routes, and the middlewares that every request passes —
JSON errors, admin bearer tokens, CORS and per-client rate limits for browser routes."""

from __future__ import annotations

import logging

from aiohttp import web

from connectors.http import admin, browser, events, openapi
from connectors.http.pages import routes as pages
from connectors.http.context import CTX, ApiContext, context, is_admin
from connectors.http.errors import ApiError, error

log = logging.getLogger("pushcast.http")


def own_origin(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def cors_headers(request: web.Request) -> dict:
    """CORS headers for a browser route; ApiError 403 for an origin not configured."""
    origin = request.headers.get("Origin")
    if origin is None:  # not a cross-origin browser request (curl, a server, same-origin GET)
        return {}
    if origin != own_origin(request) and origin not in context(request).site_origins:
        raise ApiError(403, f"origin {origin} is not allowed: add it to site_origins in pushcast.yaml")
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}


@web.middleware
async def middleware(request: web.Request, handler):
    ctx = context(request)
    route = request.match_info.route.resource.canonical if request.match_info.route.resource else "unmatched"
    try:
        browser_route = route in browser.ROUTES
        extra = {}
        if browser_route:
            extra = cors_headers(request)
            if request.method == "OPTIONS":
                return web.Response(status=204, headers={
                    **extra, "Access-Control-Allow-Methods": "GET, POST, DELETE",
                    "Access-Control-Allow-Headers": "Content-Type", "Access-Control-Max-Age": "600"})
            limited = request.method != "GET" and not (route == "/v1/events" and is_admin(request))
            if limited:
                wait = ctx.rate_limit.take(request.remote or "?")
                if wait > 0:
                    if ctx.metrics is not None:
                        ctx.metrics.rate_limited.inc()
                    raise ApiError(429, "too many requests from this address; slow down",
                                   headers={"Retry-After": str(max(1, round(wait)))})
        response = await handler(request)
        response.headers.update(extra)
    except ApiError as exc:
        response = exc.response()
        if route in browser.ROUTES and request.headers.get("Origin") and exc.status != 403:
            try:
                response.headers.update(cors_headers(request))
            except ApiError:
                pass
    except web.HTTPRequestEntityTooLarge as exc:
        response = error(413, f"request body too large (at most {exc.max_size} bytes)")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = error(exc.status, exc.reason)
    except Exception:
        log.exception("%s %r failed", request.method, request.path)  # %r: no control characters in logs
        response = error(500, "internal error (logged)")
    if ctx.metrics is not None:
        ctx.metrics.http_requests.labels(route, str(response.status)).inc()
    if request.path.startswith("/sdk/") or request.path == "/pushcast-sw.js":
        # The service worker lives under /sdk/ but must control the whole site.
        response.headers["Service-Worker-Allowed"] = "/"
    return response


def build_app(ctx: ApiContext) -> web.Application:
    app = web.Application(middlewares=[middleware], client_max_size=events.MAX_BODY)
    app[CTX] = ctx
    events.add_routes(app)
    browser.add_routes(app)
    browser.add_sdk(app, ctx.sdk_dir)
    admin.add_routes(app)
    pages.add_routes(app)
    openapi.add_routes(app)
    return app
