"""`pushcast backtest`: who would have been sent what, without sending."""

from pathlib import Path

import orjson

from engine.cli import main

ROOT = Path(__file__).resolve().parents[3]
SUB = {"endpoint": "https://fcm.googleapis.com/fcm/send/x", "keys": {"p256dh": "BCVx", "auth": "BTBZ"}}


def write_events(path: Path, rows: list) -> Path:
    path.write_bytes(b"\n".join(r if isinstance(r, bytes) else orjson.dumps(r) for r in rows) + b"\n")
    return path


def test_backtest_reports_sends_suppressions_and_bad_lines(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    events = write_events(tmp_path / "events.ndjson", [
        {"user": "a", "event": "$push_subscribe", "ts": "2026-11-25T10:00:00Z", "props": SUB},
        {"user": "a", "event": "Added To Cart", "ts": "2026-11-25T10:01:00Z", "props": {"product": "Shoes", "cart_id": "1", "price": 50}},
        {"user": "b", "event": "Added To Cart", "ts": "2026-11-25T10:02:00Z", "props": {"product": "Hat", "cart_id": "2", "price": 50}},
        {"user": "c", "event": "$push_subscribe", "ts": "2026-11-25T10:00:00Z", "props": SUB},
        {"user": "c", "event": "Added To Cart", "ts": "2026-11-25T10:03:00Z", "props": {"product": "Bag", "cart_id": "3", "price": 50}},
        {"user": "c", "event": "Charged", "ts": "2026-11-25T10:04:00Z", "props": {"cart_id": "3", "amount": 50}},
        b"{not json",
        {"user": "d", "event": "Added To Cart"},
        {"user": 7, "event": "x", "ts": 0},
        # The clock runs to the last event: this one lets the first reminder fall due.
        {"user": "z", "event": "Page Viewed", "ts": "2026-11-25T11:00:00Z"},
    ])
    assert main(["backtest", "abandoned-cart", "--events", str(events)]) == 0
    out = capsys.readouterr().out
    assert "events replayed: 7   bad lines: 3" in out
    assert "line 7: not JSON" in out and "line 8: ts: required" in out and "line 9: user:" in out
    assert "abandoned-cart: qualified 2, would send 1" in out
    assert "suppressed (no_subscription): 1" in out
    assert "2026-11-25T10:11:00Z  a  abandoned-cart: 'Still thinking about Shoes?'" in out


def test_backtest_window_and_unknown_campaign(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    events = write_events(tmp_path / "e.ndjson", [
        {"user": "a", "event": "$push_subscribe", "ts": "2026-11-25T10:00:00Z", "props": SUB},
        {"user": "a", "event": "Added To Cart", "ts": "2026-11-25T10:01:00Z", "props": {"product": "S", "cart_id": "1", "price": 50}},
    ])
    assert main(["backtest", "abandoned-cart", "--events", str(events), "--to", "2026-11-25T10:05:00Z"]) == 0
    assert "would send 0" in capsys.readouterr().out  # the clock stops before the wait is due
    assert main(["backtest", "no-such", "--events", str(events)]) == 1
    assert "no campaign 'no-such'" in capsys.readouterr().err
