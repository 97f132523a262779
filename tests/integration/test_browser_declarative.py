"""The SDK's service worker core reads a Declarative Web Push message (what Safari hands
a mutable message's worker) as the classic payload, in a real headless Chromium."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connectors.push.payload import build_payload

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

CORE = Path(__file__).resolve().parents[2] / "sdk" / "pushcast-core.js"
PAYLOAD = {
    "title": "Your cart misses you", "body": "2 items", "url": "https://shop.example/cart",
    "icon": "https://shop.example/icon.png", "tag": "m-1", "require_interaction": True,
    "user": "u1", "sig": "s1g", "server": "https://push.shop.example",
    "actions": [{"action": "checkout", "title": "Checkout", "url": "https://shop.example/checkout"}],
}

READ_JS = """(text) => {
  const payload = PushcastCore.parsePayload(text);
  return {
    payload,
    title: PushcastCore.notificationTitle(payload),
    options: PushcastCore.notificationOptions(payload),
    click: PushcastCore.clickTarget(payload, ''),
    button: PushcastCore.clickTarget(payload, 'checkout'),
    report: PushcastCore.trackBody(payload, 'clicked', 'checkout'),
  };
}"""


async def test_the_worker_reads_a_declarative_message_as_the_classic_payload(browser_context):
    declarative = build_payload("m-1", "cart", {**PAYLOAD, "declarative": True}, True).decode()
    assert json.loads(declarative)["web_push"] == 8030
    classic = build_payload("m-1", "cart", PAYLOAD).decode()
    page = await browser_context.new_page()
    try:
        await page.add_script_tag(content=CORE.read_text(encoding="utf-8"))
        read = await page.evaluate(READ_JS, declarative)
        assert read == await page.evaluate(READ_JS, classic), "both forms show and report the same"
    finally:
        await page.close()
    assert read["payload"] == {**PAYLOAD, "message": "m-1", "campaign": "cart"}
    assert read["title"] == "Your cart misses you"
    assert read["options"]["requireInteraction"] is True and read["options"]["body"] == "2 items"
    assert (read["click"], read["button"]) == ("https://shop.example/cart", "https://shop.example/checkout")
    assert read["report"]["message"] == "m-1" and read["report"]["sig"] == "s1g"
