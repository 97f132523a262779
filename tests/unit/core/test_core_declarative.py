"""`what.declarative` and pushcast.yaml's `declarative_push`: which messages carry the
mark that asks the sender for a Declarative Web Push message."""

from __future__ import annotations

import pytest

from engine.core.delivery import render_payload
from engine.rules.config import parse_config
from engine.rules.errors import ConfigError
from engine.rules.loader import parse_campaign


def campaign(what_extra: str = "", url: bool = True):
    url_line = '  url: "https://shop.example/cart/{{ event.cart }}"\n' if url else ""
    return parse_campaign(f"campaign: cart\nwho: {{on: Added To Cart}}\nwhat:\n  title: Back\n{url_line}{what_extra}",
                          "cart.yaml")


@pytest.mark.parametrize("what_extra, config, marked", [
    ("", "", False),                                      # off by default
    ("", "declarative_push: true\n", True),               # on for every campaign with a url
    ("  declarative: false\n", "declarative_push: true\n", False),  # a campaign opts out
    ("  declarative: true\n", "", True),                  # a campaign opts in
])
def test_the_mark_follows_the_campaign_then_the_config(what_extra, config, marked):
    payload = render_payload(campaign(what_extra), "m-1", {}, {"cart": "c9"}, config=parse_config(config or "{}\n"))
    assert payload.get("declarative", False) is marked
    assert payload["url"] == "https://shop.example/cart/c9"


def test_a_campaign_without_url_is_never_marked():
    payload = render_payload(campaign(url=False), "m-1", {}, {}, config=parse_config("declarative_push: true\n"))
    assert "declarative" not in payload


def test_declarative_without_a_url_is_a_load_error_at_its_key():
    with pytest.raises(ConfigError) as error:
        campaign("  declarative: true\n", url=False)
    assert 'cart.yaml:5:3: campaign "cart", what.declarative: needs "url"' in str(error.value)
