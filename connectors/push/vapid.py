"""VAPID (RFC 8292): the application server's key pair and the signed JWT that identifies it.

Signing a JWT costs ~50 µs; the token depends only on the push service origin (`aud`), so
`VapidSigner` keeps one per origin and signs again only when it nears expiry. The JWT
itself is made by py_vapid (the library pywebpush uses).
"""

from __future__ import annotations

import base64
import logging
import os
import re
import stat
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02, VapidException

from connectors.push.errors import VapidError

log = logging.getLogger(__name__)

MAX_LIFETIME = 24 * 3600  # RFC 8292 §2: exp no more than 24 hours ahead
DEFAULT_LIFETIME = 12 * 3600
DEFAULT_RENEW_BEFORE = 3600  # renew this long before exp: covers retries and clock skew
_MAX_CACHED_ORIGINS = 4096
_SUBJECT = re.compile(r"(mailto:[^@\s]+@[^@\s]+\.[^@\s]+|https://[^/\s]+\.[^\s]+)")


def generate_keys(path: Path | str) -> str:
    """Write a new P-256 private key (PKCS#8 PEM, mode 0600) to `path`, replacing any file
    there, and return the public key as the browser's `applicationServerKey` (base64url).

    Rotating the key invalidates every existing subscription: browsers bind a subscription
    to the key it was made with.
    """
    path = Path(path)
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    directory = path.parent if str(path.parent) else Path(".")
    # mkstemp creates the file 0600 from the start: the key is never readable by others,
    # not even between write and chmod; the rename makes the replacement atomic.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return application_server_key(key.public_key())


def application_server_key(public_key: ec.EllipticCurvePublicKey) -> str:
    """The uncompressed point, base64url without padding, as `pushManager.subscribe` takes."""
    raw = public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def load_private_key(key_path: Path | str, field: str = "vapid.key") -> ec.EllipticCurvePrivateKey:
    """The P-256 private key written by `generate_keys`; errors name `field` (the setting
    or argument the path came from) and say how to make a key."""
    path = Path(key_path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise VapidError(
            f"{field}: {path} does not exist; create it with `pushcast vapid generate "
            f"--out {path}`"
        ) from None
    except IsADirectoryError:
        raise VapidError(f"{field}: {path} is a folder, not a key file") from None
    except OSError as exc:
        raise VapidError(f"{field}: cannot read {path}: {exc.strerror}") from None
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            log.warning("VAPID private key %s is readable by others (mode %o); chmod 600 it", path, mode)
    except OSError:
        pass
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise VapidError(f"{field}: {path} is not an unencrypted PEM private key ({exc})") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise VapidError(f"{field}: {path} must hold a P-256 (prime256v1) EC key")
    return key


def load_signer(
    key_path: Path | str,
    subject: str,
    *,
    lifetime: int = DEFAULT_LIFETIME,
    renew_before: int = DEFAULT_RENEW_BEFORE,
) -> "VapidSigner":
    """Load the private key written by `generate_keys` (`vapid.key` in pushcast.yaml)."""
    key = load_private_key(key_path)
    return VapidSigner(key, subject, lifetime=lifetime, renew_before=renew_before)


class VapidSigner:
    """Makes the `Authorization: vapid t=<JWT>,k=<public key>` header for a push service."""

    def __init__(
        self,
        private_key: ec.EllipticCurvePrivateKey,
        subject: str,
        *,
        lifetime: int = DEFAULT_LIFETIME,
        renew_before: int = DEFAULT_RENEW_BEFORE,
    ):
        if not isinstance(subject, str) or not _SUBJECT.fullmatch(subject):
            raise VapidError(
                f"vapid.subject: expected a real contact like mailto:ops@example.com or "
                f"https://example.com/contact (Apple's push service refuses placeholders such "
                f"as @localhost), got {subject!r}"
            )
        if not 60 <= lifetime <= MAX_LIFETIME:
            raise VapidError(f"vapid lifetime: expected 60..{MAX_LIFETIME} seconds, got {lifetime}")
        if not 0 <= renew_before < lifetime:
            raise VapidError(
                f"vapid renew_before: expected 0..{lifetime - 1} seconds, got {renew_before}"
            )
        # Our own subject check above; py_vapid's would refuse https URIs with a path.
        self._vapid = Vapid02(private_key=private_key, conf={"no-strict": True})
        self.subject = subject
        self.lifetime = lifetime
        self.renew_before = renew_before
        self.public_key = application_server_key(private_key.public_key())
        self._cache: dict[str, tuple[str, float]] = {}  # origin -> (header, renew at)
        self.signatures = 0  # how many JWTs were signed (the cache's effectiveness)

    def authorization(self, origin: str, now: float) -> str:
        """The header value for push service `origin` (scheme://host[:port]) at wall-clock
        time `now` (epoch seconds)."""
        cached = self._cache.get(origin)
        if cached is not None and now < cached[1]:
            return cached[0]
        exp = int(now) + self.lifetime
        try:
            header = self._vapid.sign({"aud": origin, "exp": exp, "sub": self.subject})
        except VapidException as exc:
            raise VapidError(f"cannot sign a VAPID token for {origin}: {exc}") from None
        value = header["Authorization"]
        if len(self._cache) >= _MAX_CACHED_ORIGINS:
            self._cache.clear()
        self._cache[origin] = (value, exp - self.renew_before)
        self.signatures += 1
        return value
