"""JSON error answers: every 4xx names what is wrong (and where, for batches)."""

from __future__ import annotations

import orjson
from aiohttp import web

from engine.errors import PushcastError


def error(status: int, message: str, *, field: str | None = None, index: int | None = None,
          headers: dict | None = None) -> web.Response:
    body: dict = {"error": message}
    if field is not None:
        body["field"] = field
    if index is not None:
        body["index"] = index
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json", headers=headers)


def ok(data: object, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(data), content_type="application/json")


class ApiError(PushcastError):
    """Raised by handlers and helpers; turned into `error(...)` by the middleware."""

    def __init__(self, status: int, message: str, *, field: str | None = None, index: int | None = None,
                 headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.index = index
        self.headers = headers

    def response(self) -> web.Response:
        return error(self.status, self.message, field=self.field, index=self.index, headers=self.headers)
