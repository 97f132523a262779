"""`pushcast vapid generate|public-key`: the VAPID key pair every worker and `pushcast run`
sign with. Errors are one line naming the argument, never a traceback."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


def vapid_generate(args: argparse.Namespace) -> int:
    from connectors.push.vapid import generate_keys

    out: Path = args.out
    if out.is_dir():
        return _fail(f"--out: {out} is a folder; name the key file, e.g. {out / 'vapid_private.pem'}")
    if out.exists() and not args.force:
        return _fail(f"--out: {out} exists; pass --force to replace it (browsers subscribed with the old "
                     "key must subscribe again)")
    try:
        # The README's path is .pushcast/vapid_private.pem: a fresh checkout has no .pushcast/.
        out.parent.mkdir(parents=True, exist_ok=True)
        public_key = generate_keys(out)
    except OSError as exc:
        return _fail(f"--out: cannot write {out}: {exc.strerror or exc}")
    print(f"private key written to {out} (mode 0600); the applicationServerKey follows", file=sys.stderr)
    print(public_key)
    return 0


def vapid_public_key(args: argparse.Namespace) -> int:
    from connectors.push.errors import VapidError
    from connectors.push.vapid import application_server_key, load_private_key

    try:
        key = load_private_key(args.keyfile, field="KEYFILE")
    except VapidError as exc:
        return _fail(str(exc))
    print(application_server_key(key.public_key()))
    return 0


def add_vapid_parser(sub) -> None:
    vapid = sub.add_parser("vapid", help="VAPID keys")
    vapid_sub = vapid.add_subparsers(dest="vapid_command", required=True)
    gen = vapid_sub.add_parser("generate", help="write a key pair (making its folder), print the public key")
    gen.add_argument("--out", type=Path, default=Path("vapid_private.pem"))
    gen.add_argument("--force", action="store_true", help="replace an existing key file")
    gen.set_defaults(func=vapid_generate)
    public = vapid_sub.add_parser("public-key", help="print a key file's applicationServerKey (base64url)")
    public.add_argument("keyfile", metavar="KEYFILE", type=Path, help="a private key from `vapid generate`")
    public.set_defaults(func=vapid_public_key)
