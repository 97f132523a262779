"""What every handler needs: the runtime and the settings of the API, and admin auth."""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from connectors.http.errors import ApiError
from connectors.http.ratelimit import ClientRateLimit


@dataclass
class ApiContext:
    runtime: object  # what the routes ask of a runtime: engine.local.api.EmbeddedApi
    allowlist: object  # connectors.push.AllowList
    admin_token: str
    vapid_public_key: str
    site_origins: tuple[str, ...] = ()
    metrics: object | None = None
    sdk_dir: Path | None = None
    watcher: object | None = None  # engine.local.reload.CampaignWatcher
    open_events: bool = False  # accept non-reserved events without the admin token
    rate_limit: ClientRateLimit = field(default_factory=ClientRateLimit)


CTX = web.AppKey("pushcast", ApiContext)


def context(request: web.Request) -> ApiContext:
    return request.app[CTX]


def is_admin(request: web.Request) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), context(request).admin_token.encode())


def require_admin(request: web.Request) -> None:
    if not is_admin(request):
        raise ApiError(401, "admin endpoint: send Authorization: Bearer <admin_token> (pushcast.yaml admin_token, "
                            "or the token printed at first run, kept in the state dir)",
                       headers={"WWW-Authenticate": 'Bearer realm="pushcast"'})


