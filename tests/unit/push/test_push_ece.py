"""Our RFC 8291 encryption (connectors/push/ece.py): the RFC's worked example byte for
byte, and http_ece (the reference implementation) on random keys, salts and payloads."""

import base64

import http_ece
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.push import ece


def b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def private_key(raw: bytes) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())


def public_bytes(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)


# RFC 8291 §5 (intermediate values in Appendix A)
PLAINTEXT = b"When I grow up, I want to be a watermelon"
AS_PRIVATE = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw"
UA_PRIVATE = "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94"
UA_PUBLIC = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
AUTH = "BTBZMqHH6r4Tts7J_aSIgg"
SALT = "DGv6ra1nlYgDCS1FRnbzlw"
BODY = (
    "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS"
    "6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qu"
    "lcy4a-fN"
)


def test_rfc8291_worked_example_byte_for_byte():
    receiver = private_key(b64d(UA_PRIVATE))
    assert public_bytes(receiver) == b64d(UA_PUBLIC)
    body = ece.encrypt(
        PLAINTEXT, receiver.public_key(), b64d(UA_PUBLIC), b64d(AUTH), 4096,
        salt=b64d(SALT), sender_key=private_key(b64d(AS_PRIVATE)),
    )
    assert body == b64d(BODY)


def test_header_is_salt_record_size_and_the_fresh_sender_key():
    receiver = ec.generate_private_key(ec.SECP256R1())
    args = (b"hi", receiver.public_key(), public_bytes(receiver), b"a" * 16, 4096)
    first, second = ece.encrypt(*args), ece.encrypt(*args)
    assert len(first) == ece.HEADER_SIZE + 2 + 1 + ece.TAG_SIZE
    assert first[16:21] == b"\x00\x00\x10\x00\x41"  # rs 4096, idlen 65
    assert first[21] == 4 and first[:16] != second[:16] and first[21:86] != second[21:86]


keys = st.binary(min_size=32, max_size=32).filter(
    lambda raw: 0 < int.from_bytes(raw, "big") < 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
)
plaintexts = st.binary(max_size=3993)
# http_ece writes no record at all for an empty plaintext; we write one (RFC 8188 §2). The
# sender never encrypts nothing (the payload is a JSON object), so compare from 1 byte.
non_empty = st.binary(min_size=1, max_size=3993)
common = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@common
@given(receiver=keys, sender=keys, auth=st.binary(min_size=16, max_size=16),
       salt=st.binary(min_size=16, max_size=16), plaintext=non_empty)
def test_identical_to_http_ece_for_the_same_salt_and_sender_key(receiver, sender, auth, salt, plaintext):
    receiver_key, sender_key = private_key(receiver), private_key(sender)
    ours = ece.encrypt(plaintext, receiver_key.public_key(), public_bytes(receiver_key), auth, 4096,
                       salt=salt, sender_key=sender_key)
    theirs = http_ece.encrypt(plaintext, salt=salt, private_key=sender_key, dh=receiver_key.public_key(),
                              auth_secret=auth, version="aes128gcm", rs=4096)
    assert ours == theirs


@common
@given(receiver=keys, auth=st.binary(min_size=16, max_size=16), plaintext=plaintexts)
def test_http_ece_decrypts_what_we_encrypt_with_fresh_keys(receiver, auth, plaintext):
    receiver_key = private_key(receiver)
    body = ece.encrypt(plaintext, receiver_key.public_key(), public_bytes(receiver_key), auth, 4096)
    assert http_ece.decrypt(body, private_key=receiver_key, auth_secret=auth, version="aes128gcm") == plaintext


def test_http_ece_is_a_test_extra_imported_only_by_tests():
    import re
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    names = lambda reqs: {re.split(r"[<>=!~\[ ;]", r, maxsplit=1)[0].lower() for r in reqs}  # noqa: E731
    assert "http_ece" not in names(project["dependencies"])
    assert "http_ece" in names(project["optional-dependencies"]["test"])
    uses = re.compile(r"^\s*(from|import)\s+http_ece\b", re.MULTILINE)
    offenders = [str(path.relative_to(root)) for folder in ("engine", "connectors", "scripts", "examples")
                 for path in (root / folder).rglob("*.py") if uses.search(path.read_text(encoding="utf-8"))]
    assert offenders == []
