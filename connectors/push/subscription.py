"""A browser's push subscription: its endpoint and the keys that encrypt messages to it.

A subscription is attacker-controlled input (any visitor can post one), so it is parsed
strictly here; whether its endpoint may be contacted is `allowlist.AllowList`'s decision.
"""

from __future__ import annotations

import binascii
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import SplitResult, urlsplit

from cryptography.hazmat.primitives.asymmetric import ec

from connectors.push.errors import SubscriptionError

MAX_ENDPOINT_LENGTH = 2048
# Parsed keys of this many subscriptions are kept (~2.5 KB each, measured: ~10 MB); beyond
# that the least recently sent-to are parsed again.
KEY_CACHE_SIZE = 4096
# Printable ASCII without spaces: what real endpoints are, and what is safe on a request line.
_ENDPOINT_CHARS = re.compile(r"[\x21-\x7e]+")
_B64_CHARS = re.compile(r"[A-Za-z0-9_\-+/]+={0,2}")
_SIMPLE_URL = re.compile(
    r"(?P<scheme>https?)://(?P<host>[a-z0-9-]+(?:\.[a-z0-9-]+)*)(?::(?P<port>[0-9]{1,5}))?"
    r"(?:[/?][\x21\x22\x24-\x7e]*)?"  # printable ASCII but "#": _ENDPOINT_CHARS holds
)


@dataclass(frozen=True, init=False)
class Subscription:
    """`endpoint` plus `p256dh` (the browser's P-256 public key) and `auth` (16-byte secret),
    both base64url as the browser gives them. Construction validates all three."""

    endpoint: str
    p256dh: str
    auth: str
    # Decoded once: the send path needs bytes and a key object, not text.
    public_key: ec.EllipticCurvePublicKey = field(init=False, repr=False, compare=False)
    public_key_bytes: bytes = field(init=False, repr=False, compare=False)  # p256dh decoded
    auth_secret: bytes = field(init=False, repr=False, compare=False)
    origin: str = field(init=False, repr=False, compare=False)  # scheme://host[:port]
    host: str = field(init=False, repr=False, compare=False)

    def __init__(self, endpoint: str, p256dh: str, auth: str) -> None:
        origin, host = _check_endpoint(endpoint)
        public_key, raw_key, secret = parse_keys(p256dh, auth)
        # One dict update, not a frozen dataclass's object.__setattr__ per field (~1 µs).
        self.__dict__.update(endpoint=endpoint, p256dh=p256dh, auth=auth, public_key=public_key,
                             public_key_bytes=raw_key, auth_secret=secret, origin=origin, host=host)

    @classmethod
    def from_json(cls, data: Any) -> "Subscription":
        """Parse a browser's `PushSubscription.toJSON()`:
        `{"endpoint": ..., "expirationTime": ..., "keys": {"p256dh": ..., "auth": ...}}`.

        Keys a browser may add beyond these are ignored; wrong types are errors naming the
        field.
        """
        if type(data) is not dict and not isinstance(data, Mapping):  # the ABC check is slow
            raise SubscriptionError("subscription", f"expected an object, got {_type(data)}")
        endpoint = data.get("endpoint")
        if not isinstance(endpoint, str):
            raise SubscriptionError("endpoint", f"expected a URL string, got {_type(endpoint)}")
        keys = data.get("keys")
        if type(keys) is not dict and not isinstance(keys, Mapping):
            raise SubscriptionError(
                "keys", f"expected an object with p256dh and auth, got {_type(keys)}"
            )
        p256dh, auth = keys.get("p256dh"), keys.get("auth")
        if not (isinstance(p256dh, str) and isinstance(auth, str)):  # no loop on the good path
            for name, value in (("p256dh", p256dh), ("auth", auth)):
                if not isinstance(value, str):
                    raise SubscriptionError(
                        f"keys.{name}", f"expected a base64url string, got {_type(value)}"
                    )
        return cls(endpoint, p256dh, auth)

    def to_json(self) -> dict:
        """The `PushSubscription.toJSON()` form (without `expirationTime`)."""
        return {"endpoint": self.endpoint, "keys": {"p256dh": self.p256dh, "auth": self.auth}}


@functools.lru_cache(maxsize=KEY_CACHE_SIZE)
def parse_keys(p256dh: str, auth: str) -> tuple[ec.EllipticCurvePublicKey, bytes, bytes]:
    """(public key object, its 65 bytes, 16-byte auth secret) of a subscription's keys.

    Cached: the runtimes build a `Subscription` per send from stored text, and decoding
    plus the point-on-curve check cost ~28 µs. A key object is immutable, so sharing it
    between sends is safe. Errors (`SubscriptionError`) are not cached: they are raised.
    """
    raw_key = _decode_b64(p256dh, "keys.p256dh")
    if len(raw_key) != 65 or raw_key[0] != 4:
        raise SubscriptionError(
            "keys.p256dh",
            f"expected an uncompressed P-256 public key (65 bytes starting 0x04), "
            f"got {len(raw_key)} bytes",
        )
    try:
        public_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw_key)
    except ValueError:
        raise SubscriptionError("keys.p256dh", "not a point on the P-256 curve") from None
    secret = _decode_b64(auth, "keys.auth")
    if len(secret) != 16:
        raise SubscriptionError(
            "keys.auth", f"expected a 16-byte authentication secret, got {len(secret)} bytes"
        )
    return public_key, raw_key, secret


def _check_endpoint(endpoint: str) -> tuple[str, str]:
    if not isinstance(endpoint, str) or not endpoint:
        raise SubscriptionError("endpoint", f"expected a URL string, got {_type(endpoint)}")
    if len(endpoint) > MAX_ENDPOINT_LENGTH:
        raise SubscriptionError(
            "endpoint", f"longer than {MAX_ENDPOINT_LENGTH} characters ({len(endpoint)})"
        )
    simple = _SIMPLE_URL.fullmatch(endpoint)
    if simple is not None:
        # The common case (every real endpoint), ~5x faster than urlsplit: a lower-case
        # http(s) scheme, a plain lower-case host name, maybe a port, no #fragment, only
        # printable ASCII (so the _ENDPOINT_CHARS check below would pass).
        scheme, host, port = simple.groups()
        if port is None:
            return _origin(scheme, host, None), host
        if int(port) <= 65535:
            return _origin(scheme, host, int(port)), host
    if not _ENDPOINT_CHARS.fullmatch(endpoint):
        raise SubscriptionError(
            "endpoint", "contains spaces, control or non-ASCII characters"
        )
    return _check_parsed_endpoint(endpoint)


def _check_parsed_endpoint(endpoint: str) -> tuple[str, str]:
    try:
        parts = urlsplit(endpoint)
        origin, host, _ = split_origin(parts)
    except ValueError as exc:
        raise SubscriptionError("endpoint", f"not a valid URL ({exc})") from None
    if parts.scheme not in ("https", "http"):
        raise SubscriptionError("endpoint", f"expected an https URL, got scheme {parts.scheme!r}")
    if not host:
        raise SubscriptionError("endpoint", "has no host")
    if parts.username is not None or parts.password is not None:
        raise SubscriptionError("endpoint", "must not contain user information (user@host)")
    if parts.fragment:
        raise SubscriptionError("endpoint", "must not contain a #fragment")
    return origin, host


_DEFAULT_PORTS = {"https": 443, "http": 80}


def split_origin(parts: SplitResult) -> tuple[str, str, int]:
    """(origin, host, port) of a parsed URL; the origin omits a default port, as the VAPID
    `aud` claim does. Raises ValueError for a bad port."""
    host = parts.hostname or ""
    port = parts.port
    default = _DEFAULT_PORTS.get(parts.scheme, 0)
    return _origin(parts.scheme, host, port), host, default if port is None else port


@functools.lru_cache(maxsize=1024)  # a few push services: one string each
def _origin(scheme: str, host: str, port: int | None) -> str:
    netloc_host = f"[{host}]" if ":" in host else host
    if port is None or port == _DEFAULT_PORTS.get(scheme, 0):
        return f"{scheme}://{netloc_host}"
    return f"{scheme}://{netloc_host}:{port}"


_URLSAFE_TO_STANDARD = bytes.maketrans(b"-_", b"+/")


def _decode_b64(value: str, field_name: str) -> bytes:
    # Browsers send base64url without padding; some stored subscriptions use the standard
    # alphabet or padding. Accept both, reject anything else.
    if not _B64_CHARS.fullmatch(value):
        raise SubscriptionError(field_name, "not base64url text")
    # What base64.urlsafe_b64decode does, without its Python layers (ASCII: the regex).
    data = value.rstrip("=").encode("ascii").translate(_URLSAFE_TO_STANDARD)
    try:
        return binascii.a2b_base64(data + b"=" * (-len(data) % 4))
    except (binascii.Error, ValueError):
        raise SubscriptionError(field_name, "not base64url text") from None


def _type(value: Any) -> str:
    return "null" if value is None else type(value).__name__
