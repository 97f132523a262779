"""Parsing a browser's PushSubscription.toJSON(): valid input, and errors naming the field."""

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.push import Subscription, SubscriptionError

# RFC 8291 Appendix A: the user agent's public key and authentication secret.
P256DH = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
AUTH = "BTBZMqHH6r4Tts7J_aSIgg"
ENDPOINT = "https://fcm.googleapis.com/fcm/send/abc:DEF-123"


def sub_json(**overrides):
    data = {"endpoint": ENDPOINT, "expirationTime": None, "keys": {"p256dh": P256DH, "auth": AUTH}}
    data.update(overrides)
    return data


def test_parses_to_json_form_and_decodes_keys():
    sub = Subscription.from_json(sub_json())
    assert (sub.endpoint, sub.p256dh, sub.auth) == (ENDPOINT, P256DH, AUTH)
    assert sub.auth_secret == base64.urlsafe_b64decode(AUTH + "==")
    assert sub.origin == "https://fcm.googleapis.com"
    assert sub.host == "fcm.googleapis.com"
    assert sub.to_json() == {"endpoint": ENDPOINT, "keys": {"p256dh": P256DH, "auth": AUTH}}


def test_accepts_padding_and_the_standard_base64_alphabet():
    std = base64.b64encode(base64.urlsafe_b64decode(P256DH + "=")).decode()
    assert "+" in std or "/" in std
    sub = Subscription(ENDPOINT, std, AUTH + "==")
    assert sub.public_key.public_numbers() == Subscription(ENDPOINT, P256DH, AUTH).public_key.public_numbers()


def test_origin_keeps_a_non_default_port_and_drops_443():
    assert Subscription("https://push.example.com:8443/x", P256DH, AUTH).origin == "https://push.example.com:8443"
    assert Subscription("https://push.example.com:443/x", P256DH, AUTH).origin == "https://push.example.com"


def test_extra_keys_a_browser_adds_are_ignored():
    assert Subscription.from_json(sub_json(somethingNew=1)).endpoint == ENDPOINT


@pytest.mark.parametrize(
    "data, field, words",
    [
        ([], "subscription", "object"),
        (sub_json(endpoint=None), "endpoint", "null"),
        (sub_json(endpoint=42), "endpoint", "int"),
        (sub_json(keys=None), "keys", "p256dh and auth"),
        (sub_json(keys={"auth": AUTH}), "keys.p256dh", "base64url"),
        (sub_json(keys={"p256dh": P256DH}), "keys.auth", "base64url"),
        (sub_json(keys={"p256dh": P256DH, "auth": "not base64!"}), "keys.auth", "base64url"),
        (sub_json(keys={"p256dh": P256DH, "auth": "AAAA"}), "keys.auth", "16-byte"),
        (sub_json(keys={"p256dh": AUTH, "auth": AUTH}), "keys.p256dh", "65 bytes"),
        # 65 bytes starting 0x04 but not on the curve
        (sub_json(keys={"p256dh": base64.urlsafe_b64encode(b"\x04" + b"\x01" * 64).decode(), "auth": AUTH}),
         "keys.p256dh", "not a point"),
        (sub_json(endpoint="ftp://fcm.googleapis.com/x"), "endpoint", "https"),
        (sub_json(endpoint="https://fcm.googleapis.com/a b"), "endpoint", "spaces"),
        (sub_json(endpoint="https://fcm.googleapis.com/a\r\nX-Evil: 1"), "endpoint", "control"),
        (sub_json(endpoint="https://user:pw@fcm.googleapis.com/x"), "endpoint", "user information"),
        (sub_json(endpoint="https://fcm.googleapis.com/x#frag"), "endpoint", "fragment"),
        (sub_json(endpoint="https:///nohost"), "endpoint", "no host"),
        (sub_json(endpoint="https://fcm.googleapis.com:99999/x"), "endpoint", "not a valid URL"),
        (sub_json(endpoint="https://fcm.googleapis.com/" + "a" * 3000), "endpoint", "longer than"),
    ],
)
def test_errors_name_the_field(data, field, words):
    with pytest.raises(SubscriptionError) as caught:
        Subscription.from_json(data)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")
    assert words in str(caught.value)


def test_keys_are_parsed_once_per_subscription_in_a_bounded_cache():
    from connectors.push.subscription import KEY_CACHE_SIZE, parse_keys

    first = Subscription(ENDPOINT, P256DH, AUTH)
    again = Subscription("https://fcm.googleapis.com/fcm/send/other", P256DH, AUTH)
    assert again.public_key is first.public_key  # the parsed key object is shared
    assert first.public_key_bytes == base64.urlsafe_b64decode(P256DH + "=")
    assert parse_keys.cache_info().maxsize == KEY_CACHE_SIZE


def test_bad_keys_are_refused_every_time_not_cached():
    for _ in range(2):
        with pytest.raises(SubscriptionError, match="keys.auth"):
            Subscription(ENDPOINT, P256DH, "c2hvcnQ")


_label = st.text("abcxyzABC019-", min_size=0, max_size=6)
_endpoints = st.builds(
    lambda scheme, user, labels, dot, port, rest: f"{scheme}://{user}{'.'.join(labels)}{dot}{port}{rest}",
    st.sampled_from(["https", "http", "HTTPS", "ftp", ""]),
    st.sampled_from(["", "", "user@", "u:p@"]),
    st.lists(_label, min_size=1, max_size=4),
    st.sampled_from(["", "", "."]),
    st.one_of(st.just(""), st.just(":"), st.from_regex(r":[0-9]{1,6}", fullmatch=True)),
    st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=20),
)


@settings(max_examples=300, deadline=None)
@given(_endpoints)
def test_the_fast_endpoint_check_agrees_with_urlsplit(endpoint):
    from connectors.push.subscription import _check_endpoint, _check_parsed_endpoint

    def outcome(check):
        try:
            return check(endpoint)
        except SubscriptionError as exc:
            return str(exc)

    assert outcome(_check_endpoint) == outcome(_check_parsed_endpoint)


def test_real_endpoints_take_the_fast_path():
    from connectors.push.subscription import _SIMPLE_URL

    assert _SIMPLE_URL.fullmatch(ENDPOINT)
    assert _SIMPLE_URL.fullmatch("https://updates.push.services.mozilla.com/wpush/v2/gAAAA_x-1?q=1")
