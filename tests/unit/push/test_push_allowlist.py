"""Only https endpoints of known push services; never IPs or internal names by default."""

import pytest

from connectors.push import AllowList, PushConfigError, EndpointRefused, SubscriptionError
from connectors.push.allowlist import DEFAULT_PUSH_HOSTS


@pytest.mark.parametrize(
    "endpoint, service",
    [
        ("https://fcm.googleapis.com/fcm/send/abc", "fcm.googleapis.com"),
        ("https://fcm.googleapis.com/wp/abc", "fcm.googleapis.com"),
        ("https://updates.push.services.mozilla.com/wpush/v2/gAAA", "*.push.services.mozilla.com"),
        ("https://web.push.apple.com/QGsd8", "*.push.apple.com"),
        ("https://wns2-par02p.notify.windows.com/w/?token=BQYAAAB", "*.notify.windows.com"),
        ("https://FCM.googleapis.com/fcm/send/abc", "fcm.googleapis.com"),
        ("https://fcm.googleapis.com:443/fcm/send/abc", "fcm.googleapis.com"),
    ],
)
def test_default_push_services_are_allowed(endpoint, service):
    assert AllowList().check(endpoint) == service


def test_legacy_gcm_host_is_not_a_default():
    assert "android.googleapis.com" not in DEFAULT_PUSH_HOSTS
    assert not AllowList().allows("https://android.googleapis.com/gcm/send/abc")


@pytest.mark.parametrize(
    "endpoint, words",
    [
        ("http://fcm.googleapis.com/fcm/send/abc", "only https"),
        ("https://evil.example.com/push", "not on the push service allow-list"),
        ("https://fcm.googleapis.com.evil.example/x", "not on the push service allow-list"),
        ("https://a.b.push.apple.com/x", "not on the push service allow-list"),  # one label only
        ("https://push.apple.com/x", "not on the push service allow-list"),  # *. needs a label
        ("https://127.0.0.1/push", "IP address"),
        ("https://10.0.0.8/push", "IP address"),
        ("https://169.254.169.254/latest/meta-data", "IP address"),
        ("https://[::1]/push", "IP address"),
        ("https://2130706433/push", "IP address"),  # 127.0.0.1 as one number
        ("https://0x7f.1/push", "IP address"),
        ("https://localhost/push", "internal host name"),
        ("https://metadata.google.internal/computeMetadata", "internal host name"),
        ("https://printer.local/x", "internal host name"),
        ("https://intranet/x", "internal host name"),
        ("https://fcm.googleapis.com./x", "ends with a dot"),
        ("https://fcm.googleapis.com:8443/x", "port 443 only"),
        ("https://user@fcm.googleapis.com/x", "user information"),
        ("not a url", "no host"),
    ],
)
def test_refusals_say_why(endpoint, words):
    with pytest.raises(EndpointRefused) as caught:
        AllowList().check(endpoint)
    assert words in caught.value.reason
    assert not AllowList().allows(endpoint)


def test_an_explicit_origin_is_allowed_exactly():
    allow = AllowList(origins=["http://127.0.0.1:8090"])
    assert allow.check("http://127.0.0.1:8090/push/1") == "http://127.0.0.1:8090"
    assert not allow.allows("http://127.0.0.1:8091/push/1")
    assert not allow.allows("https://127.0.0.1:8090/push/1")
    assert not AllowList().allows("http://127.0.0.1:8090/push/1")  # never by default


def test_custom_hosts_replace_the_defaults():
    allow = AllowList(hosts=["push.example.org", "*.shard.example.org"])
    assert allow.check("https://push.example.org/x") == "push.example.org"
    assert allow.check("https://s1.shard.example.org/x") == "*.shard.example.org"
    assert not allow.allows("https://fcm.googleapis.com/fcm/send/abc")


@pytest.mark.parametrize(
    "hosts, origins, words",
    [
        (["*"], [], "expected a host name"),
        (["intranet"], [], "fully qualified"),
        (["*.com"], [], "too broad"),
        (["10.0.0.1"], [], "IP address"),
        (["https://fcm.googleapis.com"], [], "expected a host name"),
        ([], ["http://127.0.0.1"], "explicit port"),
        ([], ["127.0.0.1:8080"], "explicit port"),
        ([], ["http://127.0.0.1:8080/path"], "explicit port"),
    ],
)
def test_bad_entries_are_config_errors_naming_the_key(hosts, origins, words):
    with pytest.raises(PushConfigError) as caught:
        AllowList(hosts=hosts, origins=origins)
    assert words in str(caught.value)
    assert str(caught.value).startswith("push_services: ")


@pytest.mark.parametrize(
    "address, allowed",
    [
        ("142.250.185.202", True),
        ("2a00:1450:4001:82b::200a", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("::1", False),
        ("fd00::1", False),
        ("fe80::1%eth0", False),
        ("::ffff:127.0.0.1", False),
        ("0.0.0.0", False),
        # IPv6 forms that embed an IPv4 address: judged by the address they embed.
        ("2002:7f00:1::", False),  # 6to4 of 127.0.0.1
        ("2002:c0a8:101::1", False),  # 6to4 of 192.168.1.1
        ("2002:a9fe:a9fe::", False),  # 6to4 of 169.254.169.254 (cloud metadata)
        ("2002:8efa:b9ca::1", True),  # 6to4 of a public address
        ("64:ff9b::7f00:1", False),  # NAT64 of 127.0.0.1
        ("64:ff9b::a01:203", False),  # NAT64 of 10.1.2.3
        ("64:ff9b::8efa:b9ca", True),  # NAT64 of a public address
        ("64:ff9b:1::a01:203", False),  # RFC 8215 local-use NAT64
        ("::127.0.0.1", False),  # IPv4-compatible (deprecated)
    ],
)
def test_resolved_addresses_must_be_public(address, allowed):
    assert AllowList().permits_address("fcm.googleapis.com", 443, address) is allowed


def test_an_explicit_origin_may_resolve_to_loopback():
    allow = AllowList(origins=["http://localhost:8090"])
    assert allow.permits_address("localhost", 8090, "127.0.0.1")
    assert not allow.permits_address("localhost", 8091, "127.0.0.1")


def test_accept_parses_and_checks_at_subscribe_time():
    keys = {"p256dh": "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
            "auth": "BTBZMqHH6r4Tts7J_aSIgg"}
    allow = AllowList()
    sub = allow.accept({"endpoint": "https://fcm.googleapis.com/fcm/send/x", "keys": keys})
    assert sub.endpoint == "https://fcm.googleapis.com/fcm/send/x"
    with pytest.raises(EndpointRefused, match="internal host name"):
        allow.accept({"endpoint": "https://localhost/x", "keys": keys})
    with pytest.raises(SubscriptionError, match="keys.auth"):
        allow.accept({"endpoint": "https://fcm.googleapis.com/fcm/send/x", "keys": {"p256dh": keys["p256dh"]}})
