"""The floor for the rule core: the example campaigns of campaigns.d hand-coded as one
plain loop, the fastest obvious Python that decides what they decide.

It knows nothing of YAML, templates or the core's structures: every rule below is
written out from the campaign files (triggers, `unless` waits, delays, segments,
per-campaign and global limits, DND, cut-off, date reminders, payloads) and from
pushcast.yaml as shipped. bench_core.py runs it beside the core over the same stream
and asserts that both decide the same sends (user, campaign, time, payload apart from
nothing: message ids included), suppressions (user, campaign, time, reason) and qualifications.

Left out on purpose (the stream never reaches them): the cap of 100 pending waits per
campaign, a date reminder replaced by the same event replayed, DST gaps at a DND end,
scheduled campaigns (win-back runs on a schedule, not on events), test profiles.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
from datetime import date, datetime, time, timedelta, timezone
from urllib.parse import quote
from zoneinfo import ZoneInfo

import orjson

MIN = 60_000
HOUR = 60 * MIN
DAY = 24 * HOUR
UTC = timezone.utc
ZONES: dict[str, ZoneInfo] = {}

# pushcast.yaml
GLOBAL_LIMITS = ((3, DAY), (10, 7 * DAY))
MIN_GAP = 30 * MIN
GLOBAL_DND = (22 * 60, 8 * 60)
# The longest window any limit or conversion reads (welcome: 1 per 4w).
KEEP_SENT = 28 * DAY
CONVERTS = {"Charged": (("abandoned-cart", DAY), ("price-drop", 2 * DAY), ("win-back", 3 * DAY)),
            "Added To Cart": (("browse-abandonment", DAY),)}


class User:
    __slots__ = ("id", "profile", "subs", "views", "charged", "waits", "sent")

    def __init__(self, user: str):
        self.id = user
        self.profile: dict = {}
        self.subs: dict = {}
        self.views: list[int] = []  # Product Viewed times, last 14 days
        self.charged = -1  # last Charged time
        self.waits: list[list] = []  # [due, campaign, key, props, attempted, message id]
        self.sent: list[list] = []  # [campaign, at, message id, delivered, clicked, converted]


class Floor:
    def __init__(self) -> None:
        self.users: dict[str, User] = {}
        self.timers: list[tuple[int, str]] = []
        self.sends: list[tuple] = []  # (user, campaign, at, message id, payload, ttl, urgency)
        self.suppressed: list[tuple] = []  # (user, campaign, at, reason)
        self.qualified = 0
        self.conversions = 0

    # --- the loop -------------------------------------------------------------------

    def run(self, stream) -> None:
        users, timers = self.users, self.timers
        for event in stream:
            ts = event.ts
            while timers and timers[0][0] <= ts:
                due, uid = heapq.heappop(timers)
                self.fire(users[uid], due)
            user = users.get(event.user)
            if user is None:
                user = users[event.user] = User(event.user)
            self.event(user, event.name, ts, event.props)

    def event(self, u: User, name: str, ts: int, props: dict) -> None:
        if name == "$profile":
            u.profile.update(props)
        elif name == "$push_subscribe":
            keys = props.get("keys") or {}
            if keys.get("p256dh") and keys.get("auth"):
                u.subs[props["endpoint"]] = [keys["p256dh"], keys["auth"]]
        elif name == "$push_unsubscribe":
            u.subs.pop(props.get("endpoint"), None)
        elif name in ("$notification_sent", "$notification_clicked"):
            for s in reversed(u.sent):
                if s[2] == props.get("message"):
                    if name == "$notification_clicked" and not s[4]:
                        s[4] = ts
                    if not s[3]:
                        s[3] = ts
                    break
        elif name == "Product Viewed":
            # not: did Charged in the last day; at least 2 earlier views in 7 days
            views = u.views
            if u.charged <= ts - DAY and sum(1 for v in views if v > ts - 7 * DAY) >= 2:
                self.wait(u, ts, name, "browse-abandonment", 30 * MIN, props.get("product_id", ""), props)
            views.append(ts)
            if views[0] <= ts - 14 * DAY:
                u.views = [v for v in views if v > ts - 14 * DAY]
        elif name == "Added To Cart":
            self.convert(u, name, ts)
            self.cancel(u, "browse-abandonment", props.get("product_id", ""))
            price = props.get("price")
            if isinstance(price, (int, float)) and not isinstance(price, bool) and price >= 10:
                self.wait(u, ts, name, "abandoned-cart", 10 * MIN, props.get("cart_id", ""), props)
        elif name == "Charged":
            self.convert(u, name, ts)
            self.cancel(u, "abandoned-cart", props.get("cart_id", ""))
            u.charged = ts
        elif name == "Wishlist Price Dropped":
            drop = props.get("drop_percent")
            if isinstance(drop, (int, float)) and not isinstance(drop, bool) and drop >= 10:
                if u.profile.get("price_alerts") is True or sum(1 for v in u.views if v > ts - 14 * DAY) >= 2:
                    mid = message_id("price-drop", u.id, name, ts, props)
                    self.add_wait(u, [ts + 5 * MIN, "price-drop", None, props, False, mid])
        elif name == "Flight Booked":
            self.flight(u, ts, props)
        elif name == "Notifications Enabled":
            self.attempt(u, ts, "welcome", props, False, message_id("welcome", u.id, name, ts, props))

    def wait(self, u: User, ts: int, name: str, campaign: str, within: int, key: object, props: dict) -> None:
        key = str(key)
        u.waits = [w for w in u.waits if not (w[1] == campaign and w[2] == key)]
        self.add_wait(u, [ts + within, campaign, key, props, False, message_id(campaign, u.id, name, ts, props)])

    def add_wait(self, u: User, wait: list) -> None:
        u.waits.append(wait)
        heapq.heappush(self.timers, (wait[0], u.id))

    def cancel(self, u: User, campaign: str, key: object) -> None:
        key = str(key)
        if u.waits:
            u.waits = [w for w in u.waits if not (w[1] == campaign and w[2] == key)]

    def fire(self, u: User, until: int) -> None:
        while True:
            due = [w for w in u.waits if w[0] <= until]
            if not due:
                return
            u.waits = [w for w in u.waits if w[0] > until]
            due.sort(key=lambda w: (w[0], w[1], w[5]))
            for w in due:
                self.attempt(u, w[0], w[1], w[3], w[4], w[5])

    def flight(self, u: User, ts: int, props: dict) -> None:
        tz = self.zone(u)
        mid = message_id("flight-reminder", u.id, "Flight Booked", ts, props)
        raw = props.get("departure")
        try:
            day = date.fromisoformat(raw) if isinstance(raw, str) and len(raw) == 10 else None
        except ValueError:
            day = None
        if day is None:
            self.suppressed.append((u.id, "flight-reminder", ts, "invalid_date"))
            return
        due = int(datetime.combine(day - timedelta(days=1), time(9, 0), tz).timestamp() * 1000)
        if due < ts:
            self.suppressed.append((u.id, "flight-reminder", ts, "date_passed"))
            return
        self.add_wait(u, [due, "flight-reminder", None, props, False, mid])

    # --- the last gate ---------------------------------------------------------------

    def zone(self, u: User) -> ZoneInfo:
        name = u.profile.get("tz") or "UTC"
        tz = ZONES.get(name)
        if tz is None:
            tz = ZONES[name] = ZoneInfo(name)
        return tz

    def attempt(self, u: User, now: int, campaign: str, props: dict, attempted: bool, mid: str) -> None:
        if not attempted:
            self.qualified += 1
        if not u.subs:
            self.suppressed.append((u.id, campaign, now, "no_subscription"))
            return
        local = datetime.fromtimestamp(now / 1000, self.zone(u))
        minute = local.hour * 60 + local.minute
        dnd = (21 * 60, 9 * 60) if campaign == "abandoned-cart" else None if campaign == "welcome" else GLOBAL_DND
        if dnd is not None and (minute >= dnd[0] or minute < dnd[1]):
            end = local.replace(hour=dnd[1] // 60, minute=dnd[1] % 60, second=0, microsecond=0)
            if end <= local:
                end += timedelta(days=1)
            self.add_wait(u, [int(end.timestamp() * 1000), campaign, None, props, True, mid])
            return
        if campaign == "browse-abandonment" and minute >= 21 * 60:
            self.suppressed.append((u.id, campaign, now, "cutoff"))
            return
        if self.limited(u, campaign, now):
            self.suppressed.append((u.id, campaign, now, "limit"))
            return
        try:
            payload, ttl, urgency = PAYLOADS[campaign](u.profile, props)
        except KeyError:
            self.suppressed.append((u.id, campaign, now, "render_error"))
            return
        payload["message"], payload["campaign"] = mid, campaign
        payload.setdefault("tag", mid)
        self.sends.append((u.id, campaign, now, mid, payload, ttl, urgency))
        if u.sent and u.sent[0][1] <= now - KEEP_SENT:
            u.sent = [s for s in u.sent if s[1] > now - KEEP_SENT]
        u.sent.append([campaign, now, mid, 0, 0, False])

    def limited(self, u: User, campaign: str, now: int) -> bool:
        sent = u.sent
        if campaign not in ("flight-reminder", "welcome"):  # ignore_global
            for most, span in GLOBAL_LIMITS:
                if sum(1 for s in sent if s[1] > now - span) >= most:
                    return True
            if sent and now - max(s[1] for s in sent) < MIN_GAP:
                return True
        most, span = CAMPAIGN_LIMITS.get(campaign, (0, 0))
        return bool(span) and sum(1 for s in sent if s[0] == campaign and s[1] > now - span) >= most

    def convert(self, u: User, name: str, ts: int) -> None:
        """Last touch: the latest click within the window, else the latest delivery."""
        best = None
        windows = dict(CONVERTS[name])
        for s in u.sent:
            within = windows.get(s[0])
            if within is None or s[5]:
                continue
            if s[4] and 0 <= ts - s[4] <= within:
                touch = (1, s[4])
            elif s[3] and 0 <= ts - s[3] <= within:
                touch = (0, s[3])
            else:
                continue
            if best is None or touch > best[0]:
                best = (touch, s)
        if best is not None:
            best[1][5] = True
            self.conversions += 1


def message_id(campaign: str, user: str, event: str, ts: int, props: dict) -> str:
    """The id every runtime derives (the push Topic and de-duplication key)."""
    identity = orjson.dumps([campaign, user, event, ts, props, ""], option=orjson.OPT_SORT_KEYS)
    return base64.urlsafe_b64encode(hashlib.blake2b(identity, digest_size=17).digest()).decode()[:22]


CAMPAIGN_LIMITS = {"abandoned-cart": (2, DAY), "browse-abandonment": (1, DAY), "price-drop": (1, DAY),
                   "welcome": (1, 28 * DAY), "win-back": (1, 7 * DAY)}


def _text(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _or(value: object, fallback: str) -> object:
    return fallback if value is None or value is False or value == "" else value


def _need(value: object) -> object:
    if value is None:
        raise KeyError
    return value


def _component(value: object) -> str:
    return quote(_text(_need(value)), safe="")


def _abandoned_cart(profile: dict, event: dict) -> tuple[dict, int, str]:
    cart = _component(event.get("cart_id"))
    image = event.get("image_url")
    return {
        "title": f"Still thinking about {_text(_or(event.get('product'), 'your cart'))}?",
        "body": f"Hi {_text(_or(profile.get('name'), 'there'))}, your cart is waiting.",
        "url": f"https://shop.example/cart/{cart}?utm_source=push",
        "icon": "https://shop.example/icon.png",
        "image": "https://shop.example/cart.png" if image in (None, "", False) else quote(str(image).strip(), safe=";/?:@&=+$,#[]!'()*%~"),
        "badge": "https://shop.example/badge.png",
        "require_interaction": True,
        "actions": [{"action": "action-1", "title": "Checkout", "url": f"https://shop.example/checkout/{cart}"}],
    }, 86400, "normal"


def _browse(profile: dict, event: dict) -> tuple[dict, int, str]:
    return {
        "title": f"{_text(_or(event.get('product'), 'It'))} is still here 👀",
        "body": "Have another look before it sells out.",
        "url": f"https://shop.example/p/{_component(event.get('product_id'))}?utm_source=push&utm_campaign=browse",
        "icon": "https://shop.example/icon.png",
    }, 43200, "normal"


def _price_drop(profile: dict, event: dict) -> tuple[dict, int, str]:
    image = event.get("image_url")
    return {
        "title": f"{_text(_need(event.get('product')))} is now {_text(_need(event.get('drop_percent')))}% off",
        "body": f"Down to {_text(_need(event.get('price')))} {_text(_or(event.get('currency'), 'EUR'))}. It was on your wishlist.",
        "url": f"https://shop.example/p/{_component(event.get('product_id'))}?utm_source=push&utm_campaign=price-drop",
        "image": "https://shop.example/sale.png" if image in (None, "", False) else quote(str(image).strip(), safe=";/?:@&=+$,#[]!'()*%~"),
    }, 172800, "normal"


def _flight(profile: dict, event: dict) -> tuple[dict, int, str]:
    ref = _component(event.get("booking_ref"))
    return {
        "title": f"✈️ Your flight to {_text(_need(event.get('destination')))} leaves tomorrow",
        "body": f"Check in now and pick your seat, {_text(_or(profile.get('name'), 'traveller'))}.",
        "url": f"https://air.example/checkin/{ref}",
        "actions": [{"action": "action-1", "title": "Check in", "url": f"https://air.example/checkin/{ref}"},
                    {"action": "action-2", "title": "My trips", "url": "https://air.example/trips"}],
    }, 86400, "high"


def _welcome(profile: dict, event: dict) -> tuple[dict, int, str]:
    return {
        "title": f"You're in, {_text(_or(profile.get('name'), 'friend'))} 🎉",
        "body": "We'll only ping you about your cart, price drops and trips.",
        "url": "https://shop.example/?utm_source=push&utm_campaign=welcome",
        "icon": "https://shop.example/icon.png",
        "tag": "welcome",
    }, 3600, "normal"


PAYLOADS = {"abandoned-cart": _abandoned_cart, "browse-abandonment": _browse, "price-drop": _price_drop,
            "flight-reminder": _flight, "welcome": _welcome}
