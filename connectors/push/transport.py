"""The sender's only contact with the network: one request in, status/headers/body out.

Implementations:
- `Http1Transport` (connectors.push.http1): the default; pooled keep-alive HTTP/1.1 on
  asyncio, ~35 µs of CPU per request over TLS.
- `AiohttpTransport`: the same contract on aiohttp's client (~150 µs per request).
- `MockTransport`: a function answers; for unit tests.

A transport never follows redirects (a redirect could point anywhere), raises
`TransportError` when no response came, and asks `address_guard(host, port, ip)` before
connecting to a resolved address, so a push-service host name that resolves to an
internal address is refused.
"""

from __future__ import annotations

import asyncio
import inspect
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from typing import Awaitable, Callable, Mapping, Protocol, Union
from urllib.parse import urlsplit

from connectors.push.errors import TransportError

AddressGuard = Callable[[str, int, str], bool]
MAX_RESPONSE_BODY = 64 * 1024  # push services answer in bytes; anything bigger is cut here


# Frozen dataclasses with their own __init__, one of each per push: one `__dict__.update`
# instead of a frozen dataclass's `object.__setattr__` per field (as connectors/push/message.py).


@dataclass(frozen=True, init=False)
class PushRequest:
    url: str
    headers: Mapping[str, str]
    body: bytes
    timeout: float  # seconds for the whole exchange, connecting included

    def __init__(self, url: str, headers: Mapping[str, str], body: bytes, timeout: float) -> None:
        self.__dict__.update(url=url, headers=headers, body=body, timeout=timeout)


@dataclass(frozen=True, init=False)
class PushResponse:
    status: int
    headers: Mapping[str, str]  # names in lower case
    body: bytes

    def __init__(self, status: int, headers: Mapping[str, str] | None = None,
                 body: bytes = b"") -> None:
        self.__dict__.update(status=status, headers={} if headers is None else headers, body=body)


class Transport(Protocol):
    async def send(self, request: PushRequest) -> PushResponse: ...

    async def close(self) -> None: ...


def default_ssl_context() -> ssl.SSLContext:
    """Certificate and host name checks on, HTTP/1.1 by ALPN."""
    context = ssl.create_default_context()
    context.set_alpn_protocols(["http/1.1"])
    return context


Handler = Callable[[PushRequest], Union[PushResponse, Awaitable[PushResponse]]]


class MockTransport:
    """Answers each request with `handler(request)` (sync or async; it may raise
    `TransportError`). Every request is kept in `requests`."""

    def __init__(self, handler: Handler):
        self._handler = handler
        self.requests: list[PushRequest] = []
        self.closed = False

    async def send(self, request: PushRequest) -> PushResponse:
        self.requests.append(request)
        answer = self._handler(request)
        if inspect.isawaitable(answer):
            answer = await answer
        return answer

    async def close(self) -> None:
        self.closed = True


class AiohttpTransport:
    """aiohttp's client: a keep-alive connection pool per origin."""

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | None = None,
        max_connections_per_origin: int = 64,
        keepalive_timeout: float = 30.0,
        address_guard: AddressGuard | None = None,
    ):
        self._ssl = ssl_context or default_ssl_context()
        self._limit = max_connections_per_origin
        self._keepalive = keepalive_timeout
        self._guard = address_guard
        self._session = None

    def _open(self):
        import aiohttp

        connector = aiohttp.TCPConnector(
            limit=0,
            limit_per_host=self._limit,
            keepalive_timeout=self._keepalive,
            ssl=self._ssl,
            resolver=_GuardedResolver(self._guard) if self._guard else None,
            ttl_dns_cache=300,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
            auto_decompress=False,
        )
        return self._session

    async def send(self, request: PushRequest) -> PushResponse:
        import aiohttp

        session = self._session or self._open()
        if self._guard is not None:
            _check_literal_address(request.url, self._guard)  # aiohttp resolves no IP literal
        try:
            async with session.post(
                request.url,
                data=request.body,
                headers=request.headers,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=request.timeout),
            ) as response:
                body = await response.content.read(MAX_RESPONSE_BODY)
                headers = {k.lower(): v for k, v in response.headers.items()}
                return PushResponse(response.status, headers, body)
        except _AddressRefused as exc:
            raise TransportError("refused", str(exc)) from None
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, _AddressRefused):
                raise TransportError("refused", str(exc.os_error)) from None
            raise TransportError("connect", str(exc)) from None
        except (asyncio.TimeoutError, TimeoutError):
            raise TransportError("timeout", f"no response within {request.timeout}s") from None
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError, ConnectionError) as exc:
            raise TransportError("reset", str(exc) or type(exc).__name__) from None
        except aiohttp.ClientError as exc:
            raise TransportError("protocol", str(exc) or type(exc).__name__) from None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class _AddressRefused(OSError):
    pass


def _check_literal_address(url: str, guard: AddressGuard) -> None:
    try:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port
        ipaddress.ip_address(host)
    except ValueError:
        return  # a name (resolved through the guarded resolver) or a URL aiohttp rejects
    port = port or (443 if parts.scheme == "https" else 80)
    if not guard(host, port, host):
        raise TransportError("refused", f"{host} is not a public address")


class _GuardedResolver:
    """aiohttp resolver that drops addresses the guard refuses (internal ones)."""

    def __init__(self, guard: AddressGuard):
        from aiohttp.resolver import DefaultResolver

        self._inner = DefaultResolver()
        self._guard = guard

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET):
        hosts = await self._inner.resolve(host, port, family)
        allowed = [h for h in hosts if self._guard(host, port, h["host"])]
        if not allowed:
            raise _AddressRefused(f"{host} resolves only to non-public addresses")
        return allowed

    async def close(self) -> None:
        await self._inner.close()
