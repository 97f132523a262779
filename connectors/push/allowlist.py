"""Which push services pushcast may contact.

A subscription's endpoint is chosen by whoever posted it, so sending to it blindly would
let anyone make pushcast issue requests to internal addresses. Only `https` endpoints on
known push-service hosts pass; an exact origin (e.g. `http://127.0.0.1:8090`, for tests or
a self-hosted push service) can be added explicitly and is never there by default.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from typing import Iterable
from urllib.parse import urlsplit

from connectors.push.declarative import APPLE_PUSH_DOMAIN
from connectors.push.errors import PushConfigError, EndpointRefused
from connectors.push.subscription import Subscription, split_origin

# The push services of current browsers. Chrome, Edge on Android, Opera, Samsung Internet
# and Brave use FCM; Firefox uses Mozilla autopush; Safari uses Apple's web push service;
# Edge on Windows uses WNS, whose endpoints are sharded (wns2-par02p.notify.windows.com).
# android.googleapis.com (GCM) is left out: GCM was shut down in 2019 and its endpoints
# no longer deliver.
DEFAULT_PUSH_HOSTS = (
    "fcm.googleapis.com",
    "*.push.services.mozilla.com",
    "*.push.apple.com",
    "*.notify.windows.com",
)

_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_HOST_PATTERN = re.compile(rf"(\*\.)?{_LABEL}(\.{_LABEL})*")
_MAX_DECISIONS = 10_000
_INTERNAL_SUFFIXES = (".localhost", ".local", ".internal", ".lan", ".home.arpa", ".corp")


class AllowList:
    """`hosts`: host names, `*.` matching exactly one more label; https on port 443 only.
    `origins`: exact `scheme://host:port` origins allowed as they are (http included).
    `declarative`: entries of either kind whose push service takes Declarative Web Push
    messages besides Apple's (push_services' `declarative: true`)."""

    def __init__(self, hosts: Iterable[str] = DEFAULT_PUSH_HOSTS, origins: Iterable[str] = (),
                 declarative: Iterable[str] = ()):
        declarative = set(declarative)
        self._declarative: set[str] = set()
        self._exact: dict[str, str] = {}
        self._wildcards: dict[str, str] = {}  # parent domain -> entry
        for entry in hosts:
            host = _check_host_entry(entry)
            if entry in declarative:
                self._declarative.add(host)
            if host.startswith("*."):
                self._wildcards[host[2:]] = host
            else:
                self._exact[host] = host
        self._decisions: dict[str, str | _Refusal] = {}  # origin -> service or refusal
        self._origins: dict[str, str] = {}
        self._origin_hosts: set[tuple[str, int]] = set()
        for entry in origins:
            origin, host, port = _check_origin_entry(entry)
            self._origins[origin] = origin
            if entry in declarative:
                self._declarative.add(origin)
            self._origin_hosts.add((host, port))

    def check(self, endpoint: "str | Subscription") -> str:
        """Return the push service (the allow-list entry the endpoint matched, used as the
        rate-limit key), or raise `EndpointRefused` saying why."""
        if isinstance(endpoint, Subscription):
            origin, host, url = endpoint.origin, endpoint.host, endpoint.endpoint
        else:
            url = endpoint
            origin, host = _origin_of(url)
        decision = self._decisions.get(origin)
        if decision is None:
            decision = self._decide(origin, host)
            if len(self._decisions) >= _MAX_DECISIONS:
                self._decisions.clear()
            self._decisions[origin] = decision
        if isinstance(decision, _Refusal):
            raise EndpointRefused(url, decision.reason)
        return decision

    def _decide(self, origin: str, host: str) -> "str | _Refusal":
        try:
            return self._service_for(origin, host)
        except EndpointRefused as exc:
            return _Refusal(exc.reason)

    def _service_for(self, origin: str, host: str) -> str:
        url = origin
        service = self._origins.get(origin)
        if service is not None:
            return service
        scheme = origin.split(":", 1)[0]
        if scheme != "https":
            raise EndpointRefused(url, f"only https push endpoints are allowed, got {scheme}")
        if _is_ip_literal(host):
            raise EndpointRefused(url, f"{host} is an IP address, not a push service host")
        if host == "localhost" or host.endswith(_INTERNAL_SUFFIXES) or "." not in host:
            raise EndpointRefused(url, f"{host} is an internal host name")
        if host.endswith("."):
            raise EndpointRefused(url, f"{host} ends with a dot; use the plain host name")
        if origin != f"https://{host}":
            raise EndpointRefused(url, "push services are contacted on port 443 only")
        service = self._exact.get(host)
        if service is None:
            service = self._wildcards.get(host.partition(".")[2])
        if service is None:
            raise EndpointRefused(
                url,
                f"{host} is not on the push service allow-list (push_services); "
                "add it there if it is a push service you trust",
            )
        return service

    def takes_declarative(self, service: str) -> bool:
        """Whether the push service (an entry `check` returned) takes Declarative Web Push
        messages: Apple's always, another when its push_services entry says so."""
        return service in self._declarative or service.endswith(APPLE_PUSH_DOMAIN)

    def accept(self, data: object) -> Subscription:
        """Subscribe time: parse a `PushSubscription.toJSON()` and check its endpoint.
        Raises `SubscriptionError` (naming the field) or `EndpointRefused`."""
        subscription = Subscription.from_json(data)
        self.check(subscription)
        return subscription

    def allows(self, endpoint: "str | Subscription") -> bool:
        try:
            self.check(endpoint)
        except EndpointRefused:
            return False
        return True

    def permits_address(self, host: str, port: int, address: str) -> bool:
        """Whether a connection to `address` (what `host` resolved to) may be made:
        public addresses always, others only for an explicitly allowed origin."""
        if (host.lower(), port) in self._origin_hosts:
            return True
        return _is_public(address)


class _Refusal:
    __slots__ = ("reason",)

    def __init__(self, reason: str):
        self.reason = reason


def normalize_endpoint(url: str) -> str:
    """The one spelling of an endpoint that is stored and compared: host in lower case,
    the scheme's default port dropped. `https://FCM.googleapis.com:443/x` and
    `https://fcm.googleapis.com/x` are one subscription, not two that each get every
    push. The path and query are the push service's and stay as they are. A URL that
    does not parse is returned unchanged (the allow-list refuses it)."""
    try:
        parts = urlsplit(url)
        origin, _, _ = split_origin(parts)
    except ValueError:
        return url
    if not parts.netloc or parts.username is not None or parts.password is not None:
        return url
    rest = url.split("://", 1)[1][len(parts.netloc):]
    return origin + rest


def _origin_of(url: str) -> tuple[str, str]:
    try:
        parts = urlsplit(url)
        origin, host, _ = split_origin(parts)
    except ValueError:
        raise EndpointRefused(url, "not a valid URL") from None
    if not host or parts.username is not None or parts.password is not None:
        raise EndpointRefused(url, "no host, or user information in the URL")
    return origin, host


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    # inet_aton takes the old forms too ("127.1", "0x7f.0.0.1", "2130706433") that some
    # resolvers still turn into addresses.
    try:
        socket.inet_aton(host)
        return True
    except OSError:
        return False


# IPv6 forms that carry an IPv4 address a router or translator may deliver to:
# 6to4 (2002:V4::/48, RFC 3056), NAT64's well-known prefix (64:ff9b::/96, RFC 6052) and
# the deprecated IPv4-compatible ::/96. ipaddress calls 2002::/16 and 64:ff9b::/96
# global whatever they embed, so 2002:7f00:1:: (127.0.0.1) would pass.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215: local-use, never public
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


def _is_public(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _NAT64_LOCAL:
            return False
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            ip = embedded
    return ip.is_global and not ip.is_multicast


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64 or ip in _IPV4_COMPATIBLE:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _check_host_entry(entry: object) -> str:
    if not isinstance(entry, str) or not _HOST_PATTERN.fullmatch(entry.lower()):
        raise PushConfigError(
            f"push_services: expected a host name like fcm.googleapis.com or "
            f"*.push.apple.com, got {entry!r}"
        )
    host = entry.lower()
    if "." not in host.removeprefix("*."):
        if host.startswith("*."):
            raise PushConfigError(f"push_services: wildcard {entry!r} is too broad; name a domain under it")
        raise PushConfigError(f"push_services: expected a fully qualified host name, got {entry!r}")
    if _is_ip_literal(host.removeprefix("*.")):
        raise PushConfigError(f"push_services: {entry!r} is an IP address; list it as http://HOST:PORT")
    return host


def _check_origin_entry(entry: object) -> tuple[str, str, int]:
    if not isinstance(entry, str):
        raise PushConfigError(f"push_services: expected an origin like http://127.0.0.1:8090, got {entry!r}")
    try:
        parts = urlsplit(entry)
        explicit_port = parts.port
        origin, host, port = split_origin(parts)
    except ValueError:
        parts = explicit_port = None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or explicit_port is None
        or parts.path not in ("", "/")
        or parts.query
        or parts.username is not None
    ):
        raise PushConfigError(
            f"push_services: expected scheme://host:port with an explicit port, got {entry!r}"
        )
    return origin, host, port
