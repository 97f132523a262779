"""VAPID keys on disk, and the signed, cached Authorization header."""

import base64
import json
import stat

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from connectors.push import VapidError, generate_keys, load_signer
from connectors.push.vapid import MAX_LIFETIME, VapidSigner

NOW = 1_795_000_000.0
ORIGIN = "https://fcm.googleapis.com"


def b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def parse_header(value: str):
    scheme, _, params = value.partition(" ")
    fields = dict(part.split("=", 1) for part in params.split(","))
    return scheme, fields["t"], fields["k"]


def verify_jwt(token: str, public_key: ec.EllipticCurvePublicKey) -> dict:
    header, claims, signature = token.split(".")
    raw = b64d(signature)
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    public_key.verify(der, f"{header}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))  # raises if bad
    assert json.loads(b64d(header)) == {"typ": "JWT", "alg": "ES256"}
    return json.loads(b64d(claims))


@pytest.fixture
def key_file(tmp_path):
    path = tmp_path / "vapid.pem"
    public = generate_keys(path)
    return path, public


def test_generate_writes_a_private_pem_0600_and_returns_the_application_server_key(key_file):
    path, public = key_file
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(key.curve, ec.SECP256R1)
    raw = b64d(public)
    assert len(raw) == 65 and raw[0] == 4 and "=" not in public
    assert raw == key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def test_generate_replaces_an_existing_file_atomically(key_file):
    path, first = key_file
    second = generate_keys(path)
    assert second != first
    assert load_signer(path, "mailto:ops@example.com").public_key == second
    assert [p.name for p in path.parent.iterdir()] == ["vapid.pem"]  # no temp file left


def test_header_is_a_valid_es256_jwt_for_the_origin(key_file):
    path, public = key_file
    signer = load_signer(path, "mailto:ops@example.com")
    scheme, token, k = parse_header(signer.authorization(ORIGIN, NOW))
    assert scheme == "vapid" and k == public
    public_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64d(public))
    claims = verify_jwt(token, public_key)
    assert claims["aud"] == ORIGIN
    assert claims["sub"] == "mailto:ops@example.com"
    assert NOW < claims["exp"] <= NOW + MAX_LIFETIME


def test_header_is_cached_per_origin_and_renewed_before_expiry(key_file):
    path, _ = key_file
    signer = load_signer(path, "https://shop.example/contact", lifetime=7200, renew_before=600)
    first = signer.authorization(ORIGIN, NOW)
    assert signer.authorization(ORIGIN, NOW + 6599) == first
    assert signer.signatures == 1
    other = signer.authorization("https://updates.push.services.mozilla.com", NOW)
    assert other != first and signer.signatures == 2
    renewed = signer.authorization(ORIGIN, NOW + 6600)  # 600 s before exp
    assert renewed != first and signer.signatures == 3
    _, token, _ = parse_header(renewed)
    assert json.loads(b64d(token.split(".")[1]))["exp"] == int(NOW + 6600) + 7200


@pytest.mark.parametrize(
    "subject",
    ["ops@example.com", "mailto:", "http://shop.example", "", None,
     "mailto:ops@localhost", "https://localhost"],  # Apple answers 403 BadJwtToken to these
)
def test_subject_must_be_mailto_or_https(key_file, subject):
    with pytest.raises(VapidError, match="vapid.subject"):
        load_signer(key_file[0], subject)


def test_lifetime_over_24_hours_is_refused():
    with pytest.raises(VapidError, match="lifetime"):
        VapidSigner(ec.generate_private_key(ec.SECP256R1()), "mailto:a@b.co", lifetime=MAX_LIFETIME + 1)


def test_missing_key_file_says_how_to_make_one(tmp_path):
    with pytest.raises(VapidError, match="pushcast vapid generate"):
        load_signer(tmp_path / "nope.pem", "mailto:ops@example.com")


def test_not_a_pem_key(tmp_path):
    path = tmp_path / "bad.pem"
    path.write_text("hello")
    with pytest.raises(VapidError, match="not an unencrypted PEM private key"):
        load_signer(path, "mailto:ops@example.com")


def test_wrong_curve(tmp_path):
    path = tmp_path / "p384.pem"
    path.write_bytes(
        ec.generate_private_key(ec.SECP384R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    with pytest.raises(VapidError, match="P-256"):
        load_signer(path, "mailto:ops@example.com")
