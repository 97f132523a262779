"""GET /openapi.json: the OpenAPI 3 description of this API, shipped in the package
(connectors/http/openapi.json) and fuzzed against a live runtime by the tests."""

from __future__ import annotations

from functools import cache
from importlib import resources

from aiohttp import web


@cache
def description() -> bytes:
    return resources.files(__package__).joinpath("openapi.json").read_bytes()


async def get_openapi(request: web.Request) -> web.Response:
    return web.Response(body=description(), content_type="application/json")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/openapi.json", get_openapi)
