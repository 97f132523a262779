"""Build a `Sender` from pushcast.yaml (`engine.rules.config.load_config`'s GlobalConfig).

    vapid: {key: .pushcast/vapid_private.pem, subject: mailto:push@shop.example}
    push_services:                  # omit for the built-in list and rates
      - {host: fcm.googleapis.com, rate: 10000, burst: 20000}
      - {host: "*.push.services.mozilla.com", rate: 1000}
      - {host: "*.push.apple.com"}  # no rate: not limited
      - {host: "*.notify.windows.com"}
    redis: redis://127.0.0.1:6379/0 # rate limits shared by every sender process

A listed `push_services` replaces the built-in list: list every service to deliver to.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from connectors.push.allowlist import AllowList
from connectors.push.errors import PushConfigError, VapidError
from connectors.push.ratelimit import (
    DEFAULT_RATE,
    DEFAULT_RATES,
    MemoryRateLimiter,
    Rate,
    RateLimiter,
    RedisRateLimiter,
)
from connectors.push.sender import Sender
from connectors.push.transport import Transport
from connectors.push.vapid import load_signer


def allowlist_and_rates(services: Iterable[Any]) -> tuple[AllowList, dict[str, Rate], Rate | None]:
    """From `push_services` entries (objects with host, rate, burst): the allow-list, a
    rate per service and the rate for others. An empty list gives the built-in ones."""
    services = list(services)
    if not services:
        return AllowList(), dict(DEFAULT_RATES), DEFAULT_RATE
    hosts, origins, rates, declarative = [], [], {}, []
    for service in services:
        entry = service.host
        if "://" in entry:
            entry = _with_port(entry)
            origins.append(entry)
        else:
            entry = entry.lower()
            hosts.append(entry)
        if getattr(service, "declarative", False):
            declarative.append(entry)
        if service.rate is not None:
            burst = service.burst if service.burst is not None else max(1.0, float(service.rate))
            rates[entry] = Rate(float(service.rate), float(burst))
    allowlist = AllowList(hosts=hosts or (), origins=origins, declarative=declarative)
    # the keys AllowList.check returns for origins are normalised; rates must use them too
    rates = {_normalise(allowlist, key): rate for key, rate in rates.items()}
    return allowlist, rates, None


def build_sender(
    config: Any,
    *,
    transport: Transport | None = None,
    rate_limiter: RateLimiter | None = None,
    **sender_options: Any,
) -> Sender:
    """A Sender for `config` (a GlobalConfig): VAPID key and subject, the allow-list and
    rates of `push_services`, Redis-shared rate limits when `redis` is set."""
    if not config.vapid_key or not config.vapid_subject:
        raise VapidError(
            "vapid: pushcast.yaml needs vapid.key (make one with `pushcast vapid generate "
            "--out .pushcast/vapid_private.pem`) and vapid.subject (mailto: or https: contact)"
        )
    signer = load_signer(_relative_to_config(config, config.vapid_key), config.vapid_subject)
    allowlist, rates, default = allowlist_and_rates(config.push_services)
    if rate_limiter is None:
        if config.redis:
            rate_limiter = RedisRateLimiter.from_url(config.redis, rates, default)
        else:
            rate_limiter = MemoryRateLimiter(rates, default)
    return Sender(signer, transport, allowlist, rate_limiter, **sender_options)


def _with_port(origin: str) -> str:
    scheme, _, rest = origin.partition("://")
    host = rest.rstrip("/")
    if host.startswith("["):
        has_port = "]:" in host
    else:
        has_port = ":" in host
    if has_port:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{443 if scheme == 'https' else 80}"


def _normalise(allowlist: AllowList, key: str) -> str:
    if "://" not in key:
        return key
    try:
        return allowlist.check(key + "/")
    except Exception as exc:  # pragma: no cover - the entry was accepted a moment ago
        raise PushConfigError(f"push_services: {key!r}: {exc}") from None


def _relative_to_config(config: Any, path: str) -> Path:
    """A relative key path is read from the directory of pushcast.yaml."""
    key = Path(path)
    position = getattr(config, "position", None)
    if key.is_absolute() or position is None or not getattr(position, "file", None):
        return key
    return Path(position.file).parent / key
