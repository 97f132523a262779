"""The campaign model: what a campaign file means, after parsing and validation.

Plain frozen data. The loader (`engine.rules.loader`) builds it from YAML and keeps the
source position of every campaign for error messages; the core (`engine.core`) compiles
predicates from it and evaluates it. Times are epoch milliseconds (UTC); durations are
whole seconds; times of day are `TimeOfDay`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Position:
    file: str
    line: int  # 1-based
    col: int  # 1-based

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class TimeOfDay:
    hour: int
    minute: int

    @property
    def minutes(self) -> int:
        return self.hour * 60 + self.minute

    def __str__(self) -> str:
        return f"{self.hour:02d}:{self.minute:02d}"


# --- property filters -------------------------------------------------------------

OPERATORS = (
    "eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte",
    "contains", "exists", "before", "after",
)


@dataclass(frozen=True)
class Condition:
    """One operator on one property: `price: {gte: 10}` -> Condition("price", "gte", 10).

    `before`/`after` values are epoch ms (dates parsed by the loader); `in`/`not_in` values
    are tuples; a bare value in the file is `eq`.
    """

    prop: str
    op: str
    value: Any


@dataclass(frozen=True)
class PropertyFilter:
    """All conditions must hold (an empty filter matches everything)."""

    conditions: tuple[Condition, ...] = ()


# --- segments (WHO: past behaviour and profile) ----------------------------------


@dataclass(frozen=True)
class ProfileMatch:
    filter: PropertyFilter


@dataclass(frozen=True)
class Did:
    """Did `event` (matching `where`) `count_op` `count` times in a window.

    Exactly one of `in_last` (seconds, relative to evaluation time) or `between`
    (epoch ms, inclusive start, exclusive end) is set. `count_op` is at_least, at_most
    or exactly.
    """

    event: str
    count_op: str = "at_least"
    count: int = 1
    in_last: int | None = None
    between: tuple[int, int] | None = None
    where: PropertyFilter = PropertyFilter()


@dataclass(frozen=True)
class All:
    items: tuple["Segment", ...]


@dataclass(frozen=True)
class Any_:
    items: tuple["Segment", ...]


@dataclass(frozen=True)
class Not:
    item: "Segment"


Segment = ProfileMatch | Did | All | Any_ | Not


# --- triggers --------------------------------------------------------------------


@dataclass(frozen=True)
class LiveTrigger:
    """`who.on: {event, where}`: fires on each matching event."""

    event: str
    where: PropertyFilter = PropertyFilter()


@dataclass(frozen=True)
class DateTrigger:
    """`who.on: {event, date, offset, at}`: a reminder relative to a date in the event.

    Due at (event.props[date] + offset), moved to local time `at` of that day in the
    user's time zone when `at` is set.
    """

    event: str
    date: str
    offset: int = 0
    at: TimeOfDay | None = None
    where: PropertyFilter = PropertyFilter()


@dataclass(frozen=True)
class Inaction:
    """`who.unless`: the trigger is cancelled if `event` follows within `within` seconds
    (with equal values of the `match` properties)."""

    event: str
    within: int
    match: tuple[str, ...] = ()


# --- WHEN --------------------------------------------------------------------------


@dataclass(frozen=True)
class FrequencyLimit:
    max: int
    per: int  # seconds


ON_LIMIT = ("drop", "queue")  # what a message held by a frequency limit does


@dataclass(frozen=True)
class Limits:
    ignore_global: bool = False
    per_user: tuple[FrequencyLimit, ...] = ()
    on_limit: str | None = None  # drop | queue; None: the global `on_limit` of pushcast.yaml
    max_delay: int = 0  # seconds a queued message may wait (set with on_limit: queue)


@dataclass(frozen=True)
class DoNotDisturb:
    start: TimeOfDay  # `from` in the file
    end: TimeOfDay  # `to` in the file
    then: str = "delay"  # delay | discard


# `dnd: off`: an empty window, so a campaign can opt out of the global quiet hours.
DND_OFF = DoNotDisturb(TimeOfDay(0, 0), TimeOfDay(0, 0))


@dataclass(frozen=True)
class Schedule:
    """`when.schedule` for campaigns over past behaviour (issue: scheduled campaigns)."""

    at: tuple[int, ...] = ()  # epoch ms (or local wall times when timezone == "user")
    at_local: tuple[str, ...] = ()  # the same datetimes as written, without offset, for timezone: user
    cron: str | None = None
    timezone: str | None = None  # an IANA zone, or "user"
    late: str = "skip"  # skip | next_day


@dataclass(frozen=True)
class BestTime:
    """`when.best_time`: deliver at each user's best hour within `within` of the send time."""

    within: int = 86400  # seconds
    fallback: TimeOfDay = TimeOfDay(10, 0)  # users with too little history


@dataclass(frozen=True)
class Fatigue:
    """pushcast.yaml `fatigue`: pause a user who ignored their last `ignored` pushes."""

    ignored: int
    pause: int  # seconds


@dataclass(frozen=True)
class Engagement:
    """pushcast.yaml `engagement`: watch each campaign's and the site's click-through over
    a sliding window of sends; below the floor, throttle or pause (engine/shell/engagement.py)."""

    min_click_rate: float  # clicks per send
    window: int  # seconds (whole hours: the hourly send and click counts are read)
    action: str = "throttle"  # throttle | pause
    min_sends: int = 200  # judged only once the window holds this many sends
    throttle: float = 0.25  # the share of messages still sent while throttled


@dataclass(frozen=True)
class When:
    start: int | None = None
    end: int | None = None
    delay: int = 0
    limits: Limits = Limits()
    dnd: DoNotDisturb | None = None  # None: the global default applies (if any)
    cutoff: TimeOfDay | None = None  # live campaigns: no delivery after this local time
    cutoff_at: int | None = None  # scheduled campaigns: an absolute cut-off (epoch ms)
    schedule: Schedule | None = None
    best_time: BestTime | None = None
    priority: int = 0  # queued messages freed at the same time: higher goes first


# --- WHAT ------------------------------------------------------------------------


class Text(Protocol):
    """A compiled, load-time-checked Liquid template (see engine.rules.templates)."""

    source: str

    def render(self, profile: dict, event: dict) -> str:
        """Render with `profile.*` and `event.*`; raises RenderError on a missing value
        that has no default."""


@dataclass(frozen=True)
class Action:
    title: Text
    url: Text
    action: str = ""  # the action id reported on click; defaults to action-1, action-2


@dataclass(frozen=True)
class Message:
    title: Text
    body: Text | None = None
    url: Text | None = None
    icon: Text | None = None
    image: Text | None = None
    badge: Text | None = None
    tag: Text | None = None
    ttl: int = 28 * 86400
    urgency: str = "normal"
    require_interaction: bool = False
    actions: tuple[Action, ...] = ()
    declarative: bool | None = None  # Declarative Web Push to Apple's push service; None: pushcast.yaml's
    variants: tuple["Variant", ...] = ()  # A/B variants; empty: everyone gets this message
    control: "Control | None" = None  # a holdout that receives nothing (for lift)
    winner: "WinnerRule | None" = None


@dataclass(frozen=True)
class Variant:
    """`what.variants[]`: a named share of the traffic with its own message (the base
    `what` with this variant's keys written over it, merged at load time)."""

    name: str
    weight: float
    what: Message


@dataclass(frozen=True)
class Control:
    """`what.control`: a share of the qualified users that is sent nothing."""

    name: str = "control"
    weight: float = 1.0


@dataclass(frozen=True)
class WinnerRule:
    """`what.winner`: once every variant has `min_sends` sends, a variant whose rate of
    `metric` beats every other with posterior probability >= `probability` takes all
    the remaining (non-control) traffic."""

    metric: str  # clicks | conversions
    min_sends: int
    probability: float = 0.95


@dataclass(frozen=True)
class Conversion:
    event: str
    within: int  # seconds after a click or a delivery
    revenue: str | None = None  # event property summed as revenue


# --- the campaign ------------------------------------------------------------------


@dataclass(frozen=True)
class Campaign:
    id: str
    name: str
    what: Message
    status: str = "active"  # active | paused
    trigger: LiveTrigger | DateTrigger | None = None  # None: a scheduled campaign
    unless: Inaction | None = None
    segment: Segment | None = None
    when: When = When()
    conversion: Conversion | None = None
    timezone: str = "UTC"  # the campaign's zone for datetimes written without an offset
    position: Position | None = field(default=None, compare=False)

    @property
    def is_live(self) -> bool:
        return self.trigger is not None


# --- the global file (pushcast.yaml) --------------------------------------------------


@dataclass(frozen=True)
class PushService:
    host: str  # a host name, `*.` wildcard allowed, or http://127.0.0.1:PORT for tests
    rate: float | None = None  # messages per second, None: unlimited
    burst: int | None = None
    declarative: bool = False  # takes Declarative Web Push messages (Apple's always does)


@dataclass(frozen=True)
class GlobalConfig:
    limits: tuple[FrequencyLimit, ...] = ()
    min_gap: int = 0  # seconds between two pushes to a user, 0: none
    on_limit: str = "drop"  # what a message held by a limit does: drop | queue
    max_delay: int = 0  # seconds a queued message may wait (set with on_limit: queue)
    dnd: DoNotDisturb | None = None  # the default DND for campaigns that set none
    timezone: str = "UTC"  # the default user time zone
    test_users: tuple[str, ...] = ()  # test profiles besides those with `test: true`
    vapid_key: str | None = None  # path of the VAPID private key (PEM)
    vapid_subject: str | None = None  # mailto: or https: contact for push services
    push_services: tuple[PushService, ...] = ()  # empty: the built-in allow-list
    kafka: str | None = None  # bootstrap servers
    redis: str | None = None  # redis:// URL
    site_origins: tuple[str, ...] = ()  # origins allowed to call the browser endpoints
    admin_token: str | None = None
    identity_secret: str | None = None  # browser routes need user_hash (engine.shell.identity)
    state_dir: str = ".pushcast"
    max_event_ahead: int = 86400  # seconds an event's `ts` may be ahead of its arrival
    fatigue: Fatigue | None = None
    engagement: Engagement | None = None
    declarative_push: bool = False  # the default of campaigns' `what.declarative`
    decision_log: int = 20  # decisions kept per user (engine.core.decisions), 0: none
    position: Position | None = field(default=None, compare=False)
