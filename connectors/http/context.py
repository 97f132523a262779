"""What every handler needs: the runtime and the settings of the API, and admin auth."""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from connectors.http.errors import ApiError
from connectors.http.protocol import RuntimeApi
from connectors.http.ratelimit import ClientRateLimit


@dataclass
class ApiContext:
    runtime: RuntimeApi  # engine.local.api.EmbeddedApi, or the gateway's engine.gateway.api.KafkaApi
    allowlist: object  # connectors.push.AllowList
    admin_token: str
    vapid_public_key: str
    site_origins: tuple[str, ...] = ()
    metrics: object | None = None
    sdk_dir: Path | None = None
    watcher: object | None = None  # `reload_async(problems) -> bool`: engine.shell.reload.CampaignReloader
    open_events: bool = False  # accept non-reserved events without the admin token
    rate_limit: ClientRateLimit = field(default_factory=ClientRateLimit)
    # identity verification (engine.shell.identity): None, browser routes trust user ids
    identity_secret: bytes | None = None


CTX = web.AppKey("pushcast", ApiContext)


def context(request: web.Request) -> ApiContext:
    return request.app[CTX]


def is_admin(request: web.Request) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    # aiohttp keeps bytes that are not UTF-8 as surrogates; "surrogateescape" gives them
    # back as they came (any such token is wrong, but it must be a 401, not a 500).
    given = token.strip().encode("utf-8", "surrogateescape")
    return scheme.lower() == "bearer" and hmac.compare_digest(given, context(request).admin_token.encode())


def require_admin(request: web.Request) -> None:
    if not is_admin(request):
        raise ApiError(401, "admin endpoint: send Authorization: Bearer <admin_token> (pushcast.yaml admin_token, "
                            "or the token printed at first run, kept in the state dir)",
                       headers={"WWW-Authenticate": 'Bearer realm="pushcast"'})


