"""Reading a JSON body with a size limit and a clear error."""

from __future__ import annotations

import orjson
from aiohttp import web

from connectors.http.errors import ApiError


async def read_json(request: web.Request, limit: int) -> object:
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, f"request body too large: {request.content_length} bytes (at most {limit})")
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise ApiError(413, f"request body too large (at most {limit} bytes)") from None
    if len(body) > limit:
        raise ApiError(413, f"request body too large: {len(body)} bytes (at most {limit})")
    if not body.strip():
        raise ApiError(400, "empty body: expected JSON")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"invalid JSON: {exc}") from None


def string_field(data: dict, name: str, *, required: bool = True, max_length: int = 256) -> str | None:
    value = data.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value):
        got = "missing" if name not in data else f"got {type(value).__name__ if value is not None else 'null'}"
        raise ApiError(400, f"{name}: required, a non-empty string ({got})", field=name)
    if len(value) > max_length:
        raise ApiError(400, f"{name}: longer than {max_length} characters", field=name)
    return value


def only_keys(data: object, allowed: tuple[str, ...], what: str) -> dict:
    if not isinstance(data, dict):
        raise ApiError(400, f"expected a JSON object ({what}), got {type(data).__name__}")
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ApiError(400, f"{unknown[0]}: unknown key (allowed: {', '.join(allowed)})", field=unknown[0])
    return data
