"""The declaration of every key of campaign files, `pushcast.yaml` and campaign tests.

Add a key here first: the loader then accepts it (its reader turns the value into the
model), and `python -m engine.rules.reference --write` puts it in the docs' key tables
and the JSON Schemas. tests/unit/rules/test_declared.py fails when those drift.
"""

from __future__ import annotations

from engine.rules.declare import (
    BOOLEAN, DATETIME, DURATION, PLAIN, PROPS, SIGNED_DURATION, TEMPLATE, TIME_OF_DAY,
    URL_TEMPLATE, ZONE, Key, Kind, ListOf, Obj, OneOf, Ref, enum, integer, number, one_or_list, text,
)
from engine.rules.model import ON_LIMIT as ON_LIMIT_CHOICES, OPERATORS

EVENT_NAME = text("event name", minLength=1)
CAMPAIGN_ID = text("id", pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
_OPERATOR_SCHEMA = {"type": "object", "minProperties": 1, "additionalProperties": False,
                    "properties": {op: {} for op in OPERATORS}}
# `{prop: value}` or `{prop: {operator: operand}}`; the operators are checked by who.py.
FILTER = Kind({"type": "object", "additionalProperties": {"anyOf": [PLAIN.schema, _OPERATOR_SCHEMA]}},
              "a property filter")

# --- who ---------------------------------------------------------------------------

ON = Obj("on", (
    Key("event", EVENT_NAME, "the event name", required=True),
    Key("where", FILTER, "a [property filter](#property-filters) on the event's `props`"),
    Key("date", text(minLength=1), "makes it a date reminder: the name of a property holding a date"),
    Key("offset", SIGNED_DURATION, "a duration added to that date; may be negative (`-1d`)", needed="with `date`"),
    Key("at", TIME_OF_DAY, "a time of day: the reminder moves to that local time of its day", needed="with `date`"),
), example="{event: Added To Cart}")

UNLESS = Obj("unless", (
    Key("event", EVENT_NAME, "the event that cancels", required=True),
    Key("within", DURATION, "a duration, at least `1s`", required=True),
    Key("match", ListOf(text(minLength=1)), "property names whose values must be equal in both events"),
), example="{event: Charged, within: 10m}")

COUNT = integer(minimum=0)
DID = Obj("did", (
    Key("did", EVENT_NAME, "the event name", required=True),
    Key("at_least", COUNT, "a count (a whole number, 0 or more); default `at_least: 1`", needed="no, one at most"),
    Key("at_most", COUNT, "at most this many times", needed="no, one at most"),
    Key("exactly", COUNT, "exactly this many times", needed="no, one at most"),
    Key("in_last", DURATION, "a duration before the moment of evaluation, at most `400d`", needed="one of the two"),
    Key("between", ListOf(DATETIME, 2, 2), "`[start, end]`, two dates or datetimes; a bare end date includes "
        "that whole day; at most 400 days apart", needed="one of the two"),
    Key("where", FILTER, "a [property filter](#property-filters) on the counted events"),
))
SEGMENT = OneOf("segment", (
    DID,
    Obj("profile-segment", (Key("profile", FILTER, "the user's profile matches a property filter", required=True),)),
    Obj("all-segment", (Key("all", ListOf(Ref("segment"), 1), "every item holds", required=True),)),
    Obj("any-segment", (Key("any", ListOf(Ref("segment"), 1), "at least one item holds", required=True),)),
    Obj("not-segment", (Key("not", Ref("segment"), "the segment does not hold", required=True),)),
), doc_name="a segment")

WHO = Obj("who", (
    Key("on", OneOf("trigger", (EVENT_NAME, ON)), "the trigger: an event (live campaigns)", link="whoon-the-trigger"),
    Key("unless", UNLESS, "inaction: the event that cancels the message", link="whounless-inaction"),
    Key("segment", SEGMENT, "who qualifies, from past behaviour and profile", link="whosegment-who-qualifies"),
))

# --- when --------------------------------------------------------------------------

LIMIT = Obj("limit", (
    Key("max", integer(minimum=1), "at most this many pushes (a whole number, at least 1)", required=True),
    Key("per", DURATION, "in any window of this duration", required=True),
), example="{max: 1, per: 1d}")
LIMITS = one_or_list(LIMIT, "limits")
ON_LIMIT = enum(*ON_LIMIT_CHOICES)
MAX_DELAY = DURATION

CAMPAIGN_LIMITS = Obj("campaign-limits", (
    Key("per_user", LIMITS, "`{max: N, per: DURATION}` or a list of them: this campaign's sends to one user",
        default="none"),
    Key("ignore_global", BOOLEAN, "`true`: the global `limits` and `min_gap` of `pushcast.yaml` do not apply "
        "to this campaign", default="`false`"),
    Key("on_limit", ON_LIMIT, "`drop`: a message a limit holds is suppressed (`limit`); `queue`: it waits until "
        "the limits free", default="the global `on_limit` (`drop`)"),
    Key("max_delay", MAX_DELAY, "with `on_limit: queue`, required: how long a held message may wait, `1m` to "
        "`28d`"),
))

DND_HOURS = Obj("dnd-hours", (
    Key("from", TIME_OF_DAY, "time of day the quiet hours start", required=True),
    Key("to", TIME_OF_DAY, "time of day they end (may be earlier than `from`: the window wraps midnight); "
        "must differ from `from`", required=True),
    Key("then", enum("delay", "discard"), "`delay` (default): hold the message until `to`; `discard`: "
        "suppress it (`dnd`)"),
), example='{from: "21:00", to: "09:00"}')
DND = OneOf("dnd", (DND_HOURS, Kind({"enum": ["off", False]}, "`off`")), doc_name="quiet hours or `off`")

SCHEDULE = Obj("schedule", (
    Key("at", one_or_list(DATETIME, "datetimes"), "a datetime or a list of them (at least one)", needed="one of the two"),
    Key("cron", text("cron expression", minLength=1), "a five-field cron expression: minute, hour, day of month, "
        "month, day of week", needed="one of the two"),
    Key("timezone", ZONE, "an IANA zone for `at` and `cron`, or `user` (see below); default: the campaign's "
        "`timezone`"),
    Key("late", enum("skip", "next_day"), "`skip` (default) or `next_day`, for `timezone: user` runs that reach "
        "a user after their slot"),
), example='{at: "2026-12-24T10:00"} or {cron: "0 10 * * MON"}')

BEST_TIME = Obj("best-time", (
    Key("within", DURATION, "how long after the send time the message may wait for the user's hour; "
        "1h to 7d", default="`24h`"),
    Key("fallback", TIME_OF_DAY, "the local time of day for users with too little history", default='`"10:00"`'),
), example='{within: 24h, fallback: "10:00"}')

WHEN = Obj("when", (
    Key("start", DATETIME, "datetime or date: events before it do not trigger; a schedule does not run before it",
        link="whenstart-and-whenend"),
    Key("end", DATETIME, "datetime or date, after `start`: nothing triggers or is sent from then on (`ended`)",
        link="whenstart-and-whenend"),
    Key("delay", DURATION, "live campaigns only: a duration to wait after the trigger (default `0s`)", link="whendelay"),
    Key("limits", CAMPAIGN_LIMITS, "this campaign's own frequency cap, whether the global limits apply, and "
        "whether a message they hold is dropped or queued", link="whenlimits"),
    Key("priority", integer(), "an integer (default `0`): queued messages freed at the same time go higher first",
        link="whenlimits"),
    Key("dnd", DND, "quiet hours for this campaign, or `off`", link="whendnd"),
    Key("cutoff", text("time of day or datetime", minLength=1), "no delivery after this local time of day (or, for "
        "scheduled campaigns, this moment)", link="whencutoff"),
    Key("schedule", SCHEDULE, "scheduled campaigns: when the runs happen", link="whenschedule"),
    Key("best_time", BEST_TIME, "scheduled campaigns and live ones with a `delay`: deliver at each user's best "
        "hour", link="whenbest_time"),
))

# --- what --------------------------------------------------------------------------

ACTION = Obj("action", (
    Key("title", TEMPLATE, "the button's label (a template, must not render empty)", required=True),
    Key("url", URL_TEMPLATE, "the page it opens (a URL template)", required=True),
    Key("action", text("id", pattern=r"^[A-Za-z0-9_.-]+$"), "the id reported when it is clicked: letters, digits, "
        "`-`, `_`, `.`; default `action-1`, `action-2`; unique in the list"),
), example="{title: Checkout, url: https://shop.example/checkout}")

MESSAGE_KEYS = (
    Key("title", TEMPLATE, "the title; must not render empty (with `variants`: each variant's, or the base's they "
        "inherit)", needed="yes"),
    Key("body", TEMPLATE, "the text under the title", default="none"),
    Key("url", URL_TEMPLATE, "the page a click opens", default="none"),
    Key("icon", URL_TEMPLATE, "a small image URL", default="none"),
    Key("image", URL_TEMPLATE, "a large image URL", default="none"),
    Key("badge", URL_TEMPLATE, "the monochrome status-bar icon URL", default="none"),
    Key("tag", TEMPLATE, "notifications with the same tag replace each other on a device", default="the message id"),
    Key("ttl", DURATION, "how long the push service keeps an undelivered message; at most `28d`", default="`28d`"),
    Key("urgency", enum("very-low", "low", "normal", "high"), "`very-low`, `low`, `normal` or `high` (the push "
        "`Urgency` header)", default="`normal`"),
    Key("require_interaction", BOOLEAN, "`true`: the notification stays until the user acts", default="`false`"),
    Key("actions", ListOf(ACTION, 0, 2), "up to two buttons", default="none", link="whatactions"),
    Key("declarative", BOOLEAN, "`true`: subscriptions on Apple's push service get a Declarative Web Push "
        "message (needs `url`)", default="`pushcast.yaml`'s `declarative_push`", link="whatdeclarative"),
)
SLUG = text("name", pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")
WEIGHT = number()
VARIANT = Obj("variant", (
    Key("name", SLUG, "the variant's name: lowercase letters, digits, `-`, `_`", required=True),
    Key("weight", WEIGHT, "its share of the traffic, above 0", default="`1`"),
    *(Key(key.name, key.kind, key.meaning, default="the base `what`'s", link=key.link) for key in MESSAGE_KEYS),
), example="{name: b, title: Your cart misses you}")
CONTROL = Obj("control", (
    Key("name", SLUG, "the control group's name in the stats", default="`control`"),
    Key("weight", WEIGHT, "its share of the traffic against the variants' weights", required=True),
), example="{weight: 10} (10 shares against the variants' weights)")
WINNER = Obj("winner", (
    Key("metric", enum("clicks", "conversions"), "the rate compared: clicks or conversions per send", required=True),
    Key("min_sends", integer(minimum=1), "sends every variant needs before a winner is judged", required=True),
    Key("probability", number(minimum=0.5), "the posterior probability the winner must reach (below 1)",
        default="`0.95`"),
), example="{metric: clicks, min_sends: 500, probability: 0.95}")
WHAT = Obj("what", (
    *MESSAGE_KEYS,
    Key("variants", ListOf(VARIANT, 2), "A/B variants: two or more, each a share of the traffic with its own "
        "message", default="none", link="ab-variants"),
    Key("control", CONTROL, "with `variants`: a holdout that is sent nothing, to measure lift", default="none",
        link="whatcontrol"),
    Key("winner", WINNER, "with `variants`: when one variant clearly wins, it takes the remaining traffic",
        default="none", link="whatwinner"),
), example="{title: Your cart is waiting}", one_of=("title", "variants"))

CONVERSION = Obj("conversion", (
    Key("event", EVENT_NAME, "the event that is a conversion", required=True),
    Key("within", DURATION, "a duration (at least `1s`) after the click, or after delivery", required=True),
    Key("revenue", text(minLength=1), "a property of that event summed as revenue"),
), example="{event: Charged, within: 1d}")

CAMPAIGN = Obj("campaign", (
    Key("campaign", CAMPAIGN_ID, "the id", required=True, link="campaign"),
    Key("name", text(), "a human name", default="the id", link="name"),
    Key("status", enum("active", "paused"), "`active` or `paused`", default="`active`", link="status"),
    Key("timezone", ZONE, "the zone of this file's datetimes written without an offset", default="`UTC`",
        link="timezone"),
    Key("who", WHO, "trigger, inaction, segment", needed="see above", link="who"),
    Key("when", WHEN, "timing, limits, quiet hours, schedule", needed="see above", link="when"),
    Key("what", WHAT, "the notification", required=True, link="what"),
    Key("conversion", CONVERSION, "what counts as success", link="conversion"),
), title="pushcast campaign")

# --- pushcast.yaml -----------------------------------------------------------------

VAPID = Obj("vapid", (
    Key("key", text(minLength=1), "path of the private key (PEM), relative to this file's folder"),
    Key("subject", text(pattern=r"^(mailto:|https://)"), "a contact: `mailto:...` or `https://...`"),
), example="{key: vapid_private.pem, subject: mailto:push@shop.example}")

PUSH_SERVICE = Obj("push-service", (
    Key("host", text(minLength=1), "a host name (`*.` allowed as the first label), or `http://127.0.0.1:PORT` / "
        "`http://localhost:PORT` for tests and local push services", required=True),
    Key("rate", number(minimum=0.001), "messages per second to this service (at least 0.001); none: unlimited"),
    Key("burst", integer(minimum=1), "a whole number, the messages that may go at once (default: the rate, at "
        "least 1)"),
    Key("declarative", BOOLEAN, "the service takes Declarative Web Push messages (Apple's, `*.push.apple.com`, "
        "always does)", default="`false`"),
))

CONFIG = Obj("config", (
    Key("limits", LIMITS, "caps on all campaigns' sends to one user", default="none", link="limits"),
    Key("min_gap", DURATION, "the least time between two pushes to one user", default="none", link="min_gap"),
    Key("on_limit", ON_LIMIT, "what a message held by a limit does: `drop` or `queue`", default="`drop`",
        link="on_limit-and-max_delay"),
    Key("max_delay", MAX_DELAY, "with `on_limit: queue`: how long a held message may wait",
        link="on_limit-and-max_delay"),
    Key("dnd", DND, "quiet hours for campaigns that set none", default="none", link="dnd"),
    Key("timezone", ZONE, "the zone of users whose profile has no `tz`", default="`UTC`", link="timezone"),
    Key("test_users", ListOf(text(minLength=1)), "user ids that are test profiles", default="none",
        link="test_users"),
    Key("vapid", VAPID, "the VAPID key file and contact", default="generated", link="vapid"),
    Key("push_services", ListOf(PUSH_SERVICE), "push service hosts pushcast may contact, and their rates",
        default="the built-in list", link="push_services"),
    Key("site_origins", ListOf(text(minLength=1)), "web origins allowed to call the browser endpoints",
        default="none", link="site_origins"),
    Key("admin_token", text(minLength=16), "the bearer token of the admin endpoints", default="generated",
        link="admin_token"),
    Key("identity_secret", text(minLength=16), "the key browsers' `user_hash` is checked with", default="none",
        link="identity_secret"),
    Key("max_event_ahead", DURATION, "how far an event's `ts` may be ahead of its arrival", default="`1d`",
        link="max_event_ahead"),
    Key("state_dir", text(minLength=1), "the embedded runtime's state folder", default="`.pushcast`",
        link="state_dir"),
    Key("decision_log", integer(minimum=0), "how many of a user's latest decisions are kept for `pushcast explain` "
        "(0 to 1000)", default="`20`", link="decision_log"),
    Key("fatigue", Obj("fatigue", (
        Key("ignored", integer(minimum=1), "this many pushes in a row without a click", required=True),
        Key("pause", DURATION, "how long the user then gets none (at least `1h`)", required=True),
    ), example="{ignored: 5, pause: 14d}"), "stop sending to a user who ignores every push", default="none",
        link="fatigue"),
    Key("engagement", Obj("engagement", (
        Key("min_click_rate", number(minimum=0), "the floor: clicks per send, below 1 (`0.02` is 2%)", required=True),
        Key("window", DURATION, "the sliding window of sends and clicks looked at (whole hours, `1h` to `400d`)",
            required=True),
        Key("action", enum("throttle", "pause"), "below the floor: send only a share (`throttle`) or nothing "
            "(`pause`)", default="`throttle`"),
        Key("min_sends", integer(minimum=1), "judge only once the window holds this many sends", default="`200`"),
        Key("throttle", number(minimum=0), "with `action: throttle`: the share of messages still sent, above 0 and "
            "below 1", default="`0.25`"),
    ), example="{min_click_rate: 0.02, window: 7d, action: throttle}"), "throttle or pause a campaign (or the whole "
        "site) whose click-through falls below a floor", default="none", link="engagement"),
    Key("declarative_push", BOOLEAN, "send Declarative Web Push messages to Apple's push service for campaigns "
        "with a `url`", default="`false`", link="declarative_push"),
    Key("kafka", text(minLength=1), "Kafka bootstrap servers, for the Kafka runtime", default="none", link="kafka"),
    Key("redis", text(pattern=r"^(redis|rediss|unix)://"), "Redis URL, for the Kafka runtime", default="none",
        link="redis"),
), title="pushcast.yaml")

# --- campaign tests ----------------------------------------------------------------

OFFSET_OR_TIME = text("duration or datetime", minLength=1)
DOWN = Obj("down", (
    Key("from", OFFSET_OR_TIME, "when the runtime stops", required=True),
    Key("to", OFFSET_OR_TIME, "when it starts again", required=True),
), example="{from: 1d, to: 2d12h}")
RELOAD = Obj("reload", (
    Key("at", OFFSET_OR_TIME, "when the file is replaced", required=True),
    Key("config", text(minLength=1), "the new `pushcast.yaml`, relative to the test file", required=True),
), example="{at: 1h, config: config/stricter.pushcast.yaml}")

TEST_EVENT = Obj("event", (
    Key("at", OFFSET_OR_TIME, "when the event arrives", required=True),
    Key("user", text(minLength=1), "the user's id", required=True),
    Key("event", EVENT_NAME, "the event name (reserved `$` events included, see [events](events.md))", required=True),
    Key("props", PROPS, "a mapping of properties"),
    Key("ts", Kind({"type": ["string", "integer"]}, "datetime or epoch milliseconds"), "the event's own time, when "
        "it differs from `at` (a late event): a datetime or epoch milliseconds; default: the `at` time"),
), example="{at: 1m, user: u1, event: Added To Cart}")

EXPECTED_ACTION = Obj("expected-action", (
    Key("action", text(), "the button's id"),
    Key("title", text(), "its rendered label"),
    Key("url", text(), "its rendered URL"),
))
_MATCHES = "the rendered text, exactly"
EXPECT = Obj("expect", (
    Key("at", OFFSET_OR_TIME, "the send time, to the second (a duration after `start` or a datetime); absent: any time"),
    Key("user", text(), "the user"),
    Key("campaign", text(), "the campaign id"),
    Key("variant", text(), "the A/B variant sent (a variant's name)"),
    *(Key(name, text(), _MATCHES) for name in ("title", "body", "url", "icon", "image", "badge", "tag")),
    Key("require_interaction", BOOLEAN, "`true` or `false`"),
    Key("declarative", BOOLEAN, "`true`: sent as a Declarative Web Push message (a campaign with "
        "`what.declarative` or `declarative_push`, a `url`, to an Apple push endpoint); `false`: a classic one"),
    Key("ttl", DURATION, "a duration"),
    Key("urgency", enum("very-low", "low", "normal", "high"), "`very-low`, `low`, `normal` or `high`"),
    Key("actions", ListOf(EXPECTED_ACTION), "the rendered buttons, a list of `{action, title, url}` in order, each "
        "with all three keys"),
), example="{at: 11m, user: u1, title: ...}")

CASE = Obj("case", (
    Key("name", text(minLength=1), "unique in the file; shown in the output", required=True),
    Key("variants", Kind({"type": "object", "additionalProperties": {"type": "object"}}, "a mapping"),
        "pin users' A/B variants: `{user: {campaign: variant}}`"),
    Key("events", ListOf(TEST_EVENT), "the events, each at a time"),
    Key("until", OFFSET_OR_TIME, "how far the clock runs; default: the last event's time plus `1d`"),
    Key("expect", ListOf(EXPECT), "the notifications that must be sent; `[]`: none at all", required=True),
))

SUITE = Obj("suite", (
    Key("campaigns", one_or_list(text(minLength=1), "paths"), "a campaign file or folder, or a list of them, "
        "relative to the test file", required=True),
    Key("config", text(minLength=1), "a `pushcast.yaml`, relative to the test file: its global limits, quiet "
        "hours, default time zone and test users apply; without it, the defaults (no global limits, no quiet "
        "hours, UTC)"),
    Key("start", DATETIME, "a datetime (UTC when it has no offset): time 0 of every case", required=True),
    Key("down", ListOf(DOWN), "downtimes of the runtime, for every case: a list of `{from, to}` "
        "([below](#downtime-and-reloads))"),
    Key("reload", ListOf(RELOAD), "`pushcast.yaml` replaced while running: a list of `{at, config}` "
        "([below](#downtime-and-reloads))"),
    Key("cases", ListOf(CASE, 1), "a list of at least one case", required=True),
), example="{campaigns: [...], start: 2026-11-25T10:00:00Z, cases: [...]}", title="pushcast campaign test")

# The files with a schema, by the name `pushcast schema` and the schema files use.
FORMATS = {"campaign": CAMPAIGN, "pushcast": CONFIG, "campaign-test": SUITE}
