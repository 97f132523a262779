"""Write `examples/events.ndjson`: a month of made-up shop traffic for the example campaigns.

    .venv/bin/python examples/make_events.py [--out examples/events.ndjson] [--users 100] [--seed 14]

November 2026, one JSON event a line, sorted by `ts`. Deterministic: the same seed and
user count write the same bytes (tests/unit/test_examples.py checks the committed file).
Each user has a profile (name, time zone, country), most subscribe to push (the endpoints
are on 127.0.0.1:9, a port nothing listens on, allowed by `examples/pushcast.yaml`, so a
replay through `pushcast run` sends nothing anywhere) and then come back on some days to
browse, add to the cart and sometimes buy. A few book flights or get price drops, and a
share stop coming after mid-month (the win-back segment).
"""

from __future__ import annotations

import argparse
import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
START = datetime(2026, 11, 1, tzinfo=timezone.utc)
DAYS = 30
ZONES = ["Europe/Paris", "Europe/London", "America/New_York", "Asia/Kolkata", "UTC"]
COUNTRIES = ["FR", "GB", "US", "IN", "DE"]
NAMES = ["Asha", "Ben", "Chloé", "Dev", "Emma", "Farid", "Grace", "Hugo", "Ines", "Jon"]
PRODUCTS = [("p-1", "Trail shoes", "shoes", 89.5), ("p-2", "Rain jacket", "outerwear", 129.0),
            ("p-3", "Wool socks", "socks", 12.0), ("p-4", "Running cap", "accessories", 19.9),
            ("p-5", "Hiking boots", "shoes", 159.0), ("p-6", "Water bottle", "accessories", 8.5)]
DESTINATIONS = ["Lisbon", "Oslo", "Mumbai", "Boston"]
# RFC 8291's example subscription keys: a valid P-256 point and auth secret.
P256DH = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
AUTH = "BTBZMqHH6r4Tts7J_aSIgg"


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def event(user: str, kind: str, at: datetime, **props) -> tuple[datetime, str, dict]:
    body = {"user": user, "event": kind, "ts": iso(at)}
    if props:
        body["props"] = props
    return at, user, body


def visit(rng: random.Random, user: str, at: datetime, out: list, carts: list[int]) -> None:
    """One session: views, maybe a cart, maybe a purchase (soon, later, or never)."""
    out.append(event(user, "Session Started", at))
    t = at
    viewed = rng.sample(PRODUCTS, rng.randint(1, 3))
    for pid, product, category, price in viewed:
        for _ in range(rng.randint(1, 3)):
            t += timedelta(seconds=rng.randint(20, 240))
            out.append(event(user, "Product Viewed", t, product_id=pid, product=product,
                             category=category, price=price))
    if rng.random() < 0.45:
        pid, product, _, price = rng.choice(viewed)
        carts[0] += 1
        cart = f"c-{carts[0]}"
        t += timedelta(seconds=rng.randint(30, 300))
        out.append(event(user, "Added To Cart", t, product_id=pid, product=product, cart_id=cart, price=price))
        roll = rng.random()
        if roll < 0.35:  # buys at once: no reminder
            out.append(event(user, "Charged", t + timedelta(minutes=rng.randint(1, 8)), cart_id=cart, amount=price))
        elif roll < 0.55:  # buys after the reminder: a conversion
            out.append(event(user, "Charged", t + timedelta(hours=rng.randint(1, 20)), cart_id=cart, amount=price))


def user_events(rng: random.Random, index: int, carts: list[int]) -> list:
    user = f"u-{index:04d}"
    out: list = []
    first = START + timedelta(days=rng.randint(0, 12), hours=rng.randint(7, 21), minutes=rng.randint(0, 59))
    out.append(event(user, "$profile", first, name=rng.choice(NAMES), tz=rng.choice(ZONES),
                     country=rng.choice(COUNTRIES), price_alerts=rng.random() < 0.3))
    if rng.random() < 0.85:
        t = first + timedelta(seconds=30)
        out.append(event(user, "$push_subscribe", t, endpoint=f"http://127.0.0.1:9/push/{user}",
                         keys={"p256dh": P256DH, "auth": AUTH}))
        out.append(event(user, "Notifications Enabled", t + timedelta(seconds=1)))
    lapsed = rng.random() < 0.25  # stops coming after mid-month: win-back material
    last_day = 14 if lapsed else DAYS - 1
    day = (first - START).days
    while day <= last_day:
        at = START + timedelta(days=day, hours=rng.randint(7, 22), minutes=rng.randint(0, 59))
        if at < first:
            at = first + timedelta(minutes=2)
        visit(rng, user, at, out, carts)
        day += rng.randint(1, 6)
    if rng.random() < 0.08:
        pid, product, _, price = rng.choice(PRODUCTS)
        at = START + timedelta(days=rng.randint(15, 28), hours=rng.randint(8, 18))
        out.append(event(user, "Wishlist Price Dropped", at, product_id=pid, product=product,
                         price=round(price * 0.8, 2), drop_percent=20, currency="EUR"))
    if rng.random() < 0.06:
        at = START + timedelta(days=rng.randint(2, 20), hours=rng.randint(8, 20))
        departure = (at + timedelta(days=rng.randint(3, 9))).date().isoformat()
        out.append(event(user, "Flight Booked", at, destination=rng.choice(DESTINATIONS), departure=departure,
                         booking_ref=f"B{rng.randint(10000, 99999)}"))
    return out


def generate(users: int = 100, seed: int = 14) -> list[dict]:
    rng = random.Random(seed)
    carts = [0]
    rows = [row for i in range(1, users + 1) for row in user_events(rng, i, carts)]
    end = START + timedelta(days=DAYS)
    rows = [row for row in rows if row[0] < end]
    rows.sort(key=lambda row: (row[0], row[1]))  # stable: a user's same-second events keep their order
    return [row[2] for row in rows]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "events.ndjson")
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args(argv)
    events = generate(args.users, args.seed)
    with open(args.out, "w", encoding="utf-8") as handle:
        for item in events:
            handle.write(json.dumps(item, ensure_ascii=False, separators=(",", ":")) + "\n")
    print(f"{args.out}: {len(events)} events")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
