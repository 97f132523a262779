"""pushcast.yaml -> Sender: VAPID, allow-list, rates, Redis."""

import pytest

from connectors.push import MemoryRateLimiter, Rate, RedisRateLimiter, VapidError, generate_keys
from connectors.push.config import allowlist_and_rates, build_sender
from engine.rules.config import load_config, parse_config


def test_no_push_services_means_the_built_in_list_and_rates():
    config = parse_config("timezone: UTC\n")
    allowlist, rates, default = allowlist_and_rates(config.push_services)
    assert allowlist.allows("https://fcm.googleapis.com/fcm/send/x")
    assert allowlist.allows("https://web.push.apple.com/x")
    assert rates["fcm.googleapis.com"].per_second == 10_000
    assert default is not None


def test_listed_services_replace_the_defaults_with_their_rates():
    config = parse_config(
        "push_services:\n"
        "  - {host: fcm.googleapis.com, rate: 500, burst: 50}\n"
        "  - {host: '*.Push.Apple.com'}\n"
        "  - {host: 'http://127.0.0.1:8090', rate: 5}\n"
    )
    allowlist, rates, default = allowlist_and_rates(config.push_services)
    assert allowlist.check("https://web.push.apple.com/x") == "*.push.apple.com"
    assert allowlist.check("http://127.0.0.1:8090/x") == "http://127.0.0.1:8090"
    assert not allowlist.allows("https://updates.push.services.mozilla.com/x")
    assert rates == {"fcm.googleapis.com": Rate(500, 50), "http://127.0.0.1:8090": Rate(5, 5)}
    assert default is None  # *.push.apple.com has no rate: not limited


def test_a_loopback_origin_without_a_port_gets_the_default_one():
    config = parse_config("push_services: [{host: 'http://localhost'}]\n")
    allowlist, _, _ = allowlist_and_rates(config.push_services)
    assert allowlist.allows("http://localhost/notify/x")
    assert not allowlist.allows("http://localhost:8080/notify/x")


def test_build_sender_reads_the_key_next_to_pushcast_yaml(tmp_path):
    (tmp_path / "keys").mkdir()
    public = generate_keys(tmp_path / "keys" / "vapid.pem")
    (tmp_path / "pushcast.yaml").write_text(
        "vapid: {key: keys/vapid.pem, subject: 'mailto:push@shop.example'}\n"
    )
    sender = build_sender(load_config(tmp_path / "pushcast.yaml"))
    assert sender._vapid.public_key == public
    assert isinstance(sender._limiter, MemoryRateLimiter)


def test_build_sender_uses_redis_when_configured(tmp_path):
    generate_keys(tmp_path / "vapid.pem")
    config = parse_config(
        f"vapid: {{key: {tmp_path / 'vapid.pem'}, subject: 'mailto:push@shop.example'}}\n"
        "redis: redis://127.0.0.1:1/0\n"
    )
    sender = build_sender(config, concurrency=8)
    assert isinstance(sender._limiter, RedisRateLimiter)


def test_build_sender_without_vapid_says_what_to_do():
    with pytest.raises(VapidError, match="pushcast vapid generate"):
        build_sender(parse_config("timezone: UTC\n"))
