"""The tracking secret of a Kafka deployment: the key the workers sign each message's
payload with (`engine.shell.tracking.sign`) and the gateways check reports with.

Every worker and gateway must hold the same one, so it is never made per process:
1. `$PUSHCAST_TRACK_SECRET` (at least 32 characters), else
2. the file `track_secret` in the folder of the VAPID key that pushcast.yaml names
   (`vapid.key`), which every worker reads already. The first process that finds the
   folder writable and no file makes one (0600, atomically: two starting at once keep
   the first); a read-only folder without one is an error saying what to make.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from engine.rules.errors import PushcastError

ENV = "PUSHCAST_TRACK_SECRET"
FILE_NAME = "track_secret"
MIN_LENGTH = 32


class TrackSecretError(PushcastError):
    """No tracking secret can be read or made; the message says what to set."""


def vapid_key_path(config) -> Path | None:
    """The VAPID key pushcast.yaml names; a relative one is read from pushcast.yaml's
    folder, as the sender reads it (connectors/push/config.py)."""
    if not getattr(config, "vapid_key", None):
        return None
    key = Path(config.vapid_key)
    position = getattr(config, "position", None)
    if not key.is_absolute() and position is not None and getattr(position, "file", None):
        key = Path(position.file).parent / key
    return key


def secret_file(config) -> Path | None:
    """`track_secret` beside the VAPID key."""
    key = vapid_key_path(config)
    return key.parent / FILE_NAME if key is not None else None


def track_secret(config, *, create: bool = True) -> bytes:
    value = os.environ.get(ENV)
    if value is not None:
        if len(value) < MIN_LENGTH:
            raise TrackSecretError(f"${ENV}: at least {MIN_LENGTH} characters (try: openssl rand -hex 32)")
        return value.encode()
    path = secret_file(config)
    if path is None:
        raise TrackSecretError(f"no tracking secret: set ${ENV} (openssl rand -hex 32), the same for every "
                               "worker and gateway, or vapid.key in pushcast.yaml (the secret is then kept "
                               f"in {FILE_NAME} beside the key)")
    if not path.exists() and create:
        _create(path)
    try:
        value = path.read_bytes().strip()
    except OSError as exc:
        raise TrackSecretError(f"{path}: cannot read the tracking secret ({exc.strerror}); make it with "
                               f"`openssl rand -hex 32 > {path}`, or set ${ENV}") from None
    if len(value) < MIN_LENGTH:
        raise TrackSecretError(f"{path}: at least {MIN_LENGTH} characters (try: openssl rand -hex 32 > {path})")
    return value


def _create(path: Path) -> None:
    tmp = path.with_name(f".{FILE_NAME}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError:
        return  # a read-only folder: the read below names the file to make
    try:
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32) + "\n")
        try:
            os.link(tmp, path)  # fails if another process made it first: theirs is kept
        except FileExistsError:
            pass
    finally:
        tmp.unlink(missing_ok=True)
