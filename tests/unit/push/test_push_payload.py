"""aes128gcm (RFC 8291) for a subscription, the 4 KB limit, the JSON payload and Topic."""

import json

import http_ece
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from connectors.push import MessageError, PayloadTooLarge, Subscription
from connectors.push.payload import MAX_PLAINTEXT, build_payload, encrypt, topic_for
from tests.unit.push.test_push_ece import AS_PRIVATE, AUTH, BODY, PLAINTEXT, SALT, UA_PRIVATE, UA_PUBLIC, b64d


def private_key(b64: str) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(int.from_bytes(b64d(b64), "big"), ec.SECP256R1())


SUB = Subscription("https://fcm.googleapis.com/fcm/send/x", UA_PUBLIC, AUTH)


def decrypt(body: bytes) -> bytes:
    return http_ece.decrypt(
        body, private_key=private_key(UA_PRIVATE), auth_secret=b64d(AUTH), version="aes128gcm"
    )


def test_rfc8291_appendix_a_body_decrypts_with_the_rfc_keys():
    assert decrypt(b64d(BODY)) == PLAINTEXT


def test_rfc8291_appendix_a_body_is_what_we_produce_from_the_rfc_inputs():
    body = encrypt(PLAINTEXT, SUB, salt=b64d(SALT), ephemeral=private_key(AS_PRIVATE))
    assert body == b64d(BODY)


def test_each_message_gets_a_fresh_ephemeral_key_and_salt():
    first, second = encrypt(b"hello", SUB), encrypt(b"hello", SUB)
    assert first[:16] != second[:16]  # salt
    assert first[21:86] != second[21:86]  # the sender's public key (keyid)
    assert decrypt(first) == decrypt(second) == b"hello"


def test_largest_payload_fills_exactly_one_4096_byte_record():
    body = encrypt(b"x" * MAX_PLAINTEXT, SUB)
    assert len(body) == 4096
    assert decrypt(body) == b"x" * MAX_PLAINTEXT


def test_one_byte_more_is_refused_before_encrypting():
    with pytest.raises(PayloadTooLarge) as caught:
        encrypt(b"x" * (MAX_PLAINTEXT + 1), SUB)
    assert "4097 bytes" in str(caught.value) and "4096" in str(caught.value)
    assert "by 1 bytes" in str(caught.value)


def test_payload_is_the_campaign_fields_plus_message_and_campaign():
    fields = {
        "title": "Still thinking about Trail shoes? 👟",
        "body": "Hi Asha",
        "url": "https://shop.example/cart/c-9",
        "actions": [{"title": "Checkout", "url": "https://shop.example/checkout"}],
        "require_interaction": True,
        "message": "stale",
    }
    data = json.loads(build_payload("m-1", "abandoned-cart", fields))
    assert data == {**fields, "message": "m-1", "campaign": "abandoned-cart"}


def test_payload_must_be_a_json_object():
    with pytest.raises(MessageError, match="expected an object"):
        build_payload("m", "c", ["title"])
    with pytest.raises(MessageError, match="not JSON-serialisable"):
        build_payload("m", "c", {"when": object()})


def test_topic_is_the_id_when_it_fits_else_a_32_character_digest():
    assert topic_for("kJ3_x-9aQ2mZ0pLr7sTuVw") == "kJ3_x-9aQ2mZ0pLr7sTuVw"
    long_id = "abandoned-cart:u-42:Added To Cart:1764064800000:0"
    topic = topic_for(long_id)
    assert len(topic) == 32 and topic == topic_for(long_id)
    assert set(topic) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert topic_for("a" * 33) != topic_for("a" * 34)
    assert len(topic_for("ünïcode")) == 32
