"""Identity verification on the browser routes: with identity_secret set, a route that
names a user needs that user's `user_hash` (hex HMAC-SHA256 of the user id)."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from engine.shell.identity import IdentityRefused, identity_secret, user_hash, verify_user
from tests.unit.core_helpers import SUBSCRIPTION
from tests.unit.http.test_local_http import TOKEN, client_for

SECRET = b"identity-secret-for-unit-tests"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


def test_user_hash_is_the_hex_hmac_sha256_of_the_user_id():
    # What a site's backend computes: `printf %s u-42 | openssl dgst -sha256 -hmac key`.
    assert user_hash(b"key", "u-42") == hmac.new(b"key", b"u-42", hashlib.sha256).hexdigest()
    assert user_hash(b"key", "é") == hmac.new(b"key", "é".encode(), hashlib.sha256).hexdigest()


def test_verify_user_names_the_field_and_tells_missing_from_wrong():
    verify_user(None, "anyone", None)  # no secret: user ids are trusted
    verify_user(SECRET, "u1", user_hash(SECRET, "u1"))
    verify_user(SECRET, "u1", user_hash(SECRET, "u1").upper())  # hex compares case-insensitively
    with pytest.raises(IdentityRefused) as missing:
        verify_user(SECRET, "u1", None)
    assert missing.value.status == 401 and missing.value.message.startswith("user_hash: required")
    for wrong in (user_hash(SECRET, "u2"), "", "zz", "\udcff", 42):
        with pytest.raises(IdentityRefused) as refused:
            verify_user(SECRET, "u1", wrong)
        assert refused.value.status in (401, 403) and refused.value.field == "user_hash"
    with pytest.raises(IdentityRefused) as other:
        verify_user(SECRET, "u1", user_hash(SECRET, "u2"))
    assert other.value.status == 403 and "user_hash" in other.value.message


def test_the_secret_comes_from_the_environment_first_and_must_be_long():
    assert identity_secret(None, {}) is None
    assert identity_secret("from-the-config-file-1234", {}) == b"from-the-config-file-1234"
    env = {"PUSHCAST_IDENTITY_SECRET": "from-the-environment-1234"}
    assert identity_secret("from-the-config-file-1234", env) == b"from-the-environment-1234"
    with pytest.raises(ValueError, match=r"\$PUSHCAST_IDENTITY_SECRET: must be at least 16"):
        identity_secret(None, {"PUSHCAST_IDENTITY_SECRET": "short"})


def _sub(user: str, **extra) -> dict:
    return {"user": user, "subscription": SUBSCRIPTION, **extra}


async def test_subscriptions_need_the_users_hash(tmp_path):
    client, running, _ = await client_for(tmp_path, identity_secret=SECRET)
    try:
        missing = await client.post("/v1/subscriptions", json=_sub("victim"))
        assert missing.status == 401 and (await missing.json())["field"] == "user_hash"
        forged = await client.post("/v1/subscriptions", json=_sub("victim", user_hash=user_hash(SECRET, "attacker")))
        body = await forged.json()
        assert forged.status == 403 and body["field"] == "user_hash", body
        assert running.runtime.user_state("victim") is None  # nothing was stored for the victim

        ok = await client.post("/v1/subscriptions", json=_sub("victim", user_hash=user_hash(SECRET, "victim")))
        assert ok.status == 201
        assert sorted(running.runtime.user_state("victim").subscriptions) == [SUBSCRIPTION["endpoint"]]

        # Nor can a stranger detach the victim's subscription.
        detach = {"user": "victim", "endpoint": SUBSCRIPTION["endpoint"]}
        assert (await client.delete("/v1/subscriptions", json=detach)).status == 401
        assert (await client.delete("/v1/subscriptions", json={**detach, "user_hash": "00" * 32})).status == 403
        assert running.runtime.user_state("victim").subscriptions
        gone = await client.delete("/v1/subscriptions", json={**detach, "user_hash": user_hash(SECRET, "victim")})
        assert gone.status == 200 and not running.runtime.user_state("victim").subscriptions
    finally:
        await client.close()
        await running.stop()


async def test_open_events_need_each_users_hash_and_the_admin_token_needs_none(tmp_path):
    client, running, _ = await client_for(tmp_path, identity_secret=SECRET, open_events=True)
    try:
        event = {"user": "victim", "event": "Added To Cart", "props": {"cart_id": "c1"}}
        missing = await client.post("/v1/events", json=event)
        assert missing.status == 401 and (await missing.json())["field"] == "user_hash"
        mine = {**event, "user": "attacker", "user_hash": user_hash(SECRET, "attacker")}
        batch = await client.post("/v1/events", json=[mine, {**event, "user_hash": mine["user_hash"]}])
        body = await batch.json()
        assert batch.status == 403 and (body["field"], body["index"]) == ("user_hash", 1), body
        assert running.runtime.user_state("attacker") is None  # the batch is refused whole

        signed = await client.post("/v1/events", json={**event, "user_hash": user_hash(SECRET, "victim")})
        assert signed.status == 200
        admin = await client.post("/v1/events", json=event, headers=ADMIN)
        assert admin.status == 200 and (await admin.json()) == {"accepted": 1}
    finally:
        await client.close()
        await running.stop()


async def test_without_a_secret_user_hash_is_accepted_and_ignored(tmp_path):
    # The SDK sends user_hash whenever the page gives it one; a server not (yet)
    # verifying identities must not refuse it.
    client, running, _ = await client_for(tmp_path, open_events=True)
    try:
        assert (await client.post("/v1/subscriptions", json=_sub("u1", user_hash="ab" * 32))).status == 201
        event = {"user": "u1", "event": "Product Viewed", "user_hash": "ab" * 32}
        assert (await client.post("/v1/events", json=event)).status == 200
        assert (await client.post("/v1/events", json=event, headers=ADMIN)).status == 200
    finally:
        await client.close()
        await running.stop()
