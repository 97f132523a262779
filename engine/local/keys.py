"""Secrets the runtime makes for itself on first run, kept in the state dir (mode 0600):
the VAPID key pair, the admin token (unless pushcast.yaml sets one) and the secret that
signs tracking reports."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from connectors.push.vapid import generate_keys, load_signer

ADMIN_TOKEN_FILE = "admin_token"
TRACK_SECRET_FILE = "track_secret"
VAPID_KEY_FILE = "vapid_private.pem"
DEFAULT_SUBJECT = "mailto:pushcast@example.invalid"


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def _read_or_create(path: Path, make) -> tuple[bytes, bool]:
    if path.exists():
        return path.read_bytes().strip(), False
    data = make()
    try:
        _write_private(path, data)
    except FileExistsError:  # another process made it first: use theirs
        return path.read_bytes().strip(), False
    return data, True


def admin_token(configured: str | None, state_dir: Path) -> tuple[str, bool]:
    """(token, generated now)."""
    if configured:
        return configured, False
    token, created = _read_or_create(state_dir / ADMIN_TOKEN_FILE, lambda: secrets.token_urlsafe(32).encode())
    return token.decode(), created


def track_secret(state_dir: Path) -> bytes:
    secret, _ = _read_or_create(state_dir / TRACK_SECRET_FILE, lambda: secrets.token_hex(32).encode())
    return secret


def vapid_signer(key_path: Path, subject: str | None):
    """(signer, public key, generated now): generates the key pair when the file is missing."""
    generated = False
    if not key_path.exists():
        key_path.parent.mkdir(parents=True, exist_ok=True)
        generate_keys(key_path)
        generated = True
    signer = load_signer(key_path, subject or DEFAULT_SUBJECT)
    return signer, signer.public_key, generated
