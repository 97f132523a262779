"""What the core asks the world to do. Plain data; the shells carry it out."""

from __future__ import annotations

from dataclasses import dataclass, field

# Effects are plain data nobody changes after the core made them. Not frozen: a frozen
# dataclass sets each field through object.__setattr__, ~5x slower to build, and the core
# builds several per event. Hashable as before (by value).
effect = dataclass(slots=True, unsafe_hash=True)


@effect
class Subscription:
    endpoint: str
    p256dh: str
    auth: str


@effect
class Notify:
    """Send one message to every subscription of the user."""

    message_id: str
    campaign: str
    user: str
    at: int  # epoch ms: when the core decided to send
    payload: dict  # what the service worker shows
    subscriptions: tuple[Subscription, ...]
    ttl: int  # seconds
    urgency: str = "normal"
    test: bool = False  # a test send (test profile or send-test), counted apart
    variant: str | None = None  # the A/B variant sent (`what.variants`), None: no variants


@effect
class Qualified:
    """The user entered the campaign's audience (counted once per message id)."""

    campaign: str
    user: str
    at: int
    message_id: str
    variant: str | None = None  # the variant or control the user is assigned
    control: bool = False  # `variant` is the campaign's control (holdout)


@effect
class Suppressed:
    """A qualified message not sent. Reasons: limit, dnd, cutoff, no_subscription,
    render_error, ended, paused, invalid_date, date_passed, wait_limit, control (the
    user is in the campaign's holdout: by design, not a failure)."""

    campaign: str
    user: str
    at: int
    reason: str
    message_id: str
    detail: str = ""
    variant: str | None = None


@effect
class Conversion:
    campaign: str
    user: str
    at: int
    message_id: str
    kind: str  # click (click-through) | view (view-through) | control (a holdout user's)
    revenue: float = 0.0
    variant: str | None = None


@effect
class Decision:
    """A decision that moves no counter, kept only in the user's decision log
    (engine.core.decisions): why a trigger did not qualify, a wait started, a DND hold,
    an inaction wait cancelled, a delivery that failed. `kind` is one of DECISION_KINDS."""

    campaign: str
    user: str
    at: int
    kind: str
    detail: str = ""  # not_qualified for a segment: the failing condition's code (engine.core.segments)
    # not_qualified: segment | paused | not_started | ended; waiting: unless | delay | date,
    # or how when.best_time chose the send time (best_hour | fallback | no_slot)
    reason: str = ""
    # not_qualified for a segment: what the user's state showed (engine.core.segments);
    # waiting (unless, delay, date): (due,). engine.core.decisions words them when read.
    seen: tuple = ()


# not_qualified: the trigger matched, the user did not qualify; waiting: the trigger
# qualified and a wait started (inaction, delay, date); held: DND delays a qualified
# message; cancelled: the `unless` event ended an inaction wait; failed: a push service
# refused the delivery.
DECISION_KINDS = ("not_qualified", "waiting", "held", "cancelled", "failed")


@effect
class Wake:
    """Call the core again for this user at `at` (the earliest pending wait)."""

    user: str
    at: int


@dataclass(slots=True, init=False)
class Effects:
    items: list = field(default_factory=list)

    def __init__(self, items: list | None = None):  # one per event: no default_factory call
        self.items = [] if items is None else items

    def add(self, effect: object) -> None:
        self.items.append(effect)


@effect
class Queued:
    """A message a frequency limit holds (`on_limit: queue`), kept until `until` (epoch
    ms), when the limits free. `since`: when a limit first held it (`at` the first time)."""

    campaign: str
    user: str
    at: int
    message_id: str
    until: int
    since: int


@effect
class Released:
    """A message a limit held was sent (it follows its Notify); held since `since`."""

    campaign: str
    user: str
    at: int
    message_id: str
    since: int
