"""`pushcast gateway`: the routes of connectors/http over a `KafkaApi`, in one asyncio
process with an idempotent producer, stopped cleanly on SIGTERM/SIGINT.

It holds no state: any number run behind a load balancer. What they share comes from the
deployment: pushcast.yaml (Kafka, Redis, VAPID key, site_origins, the admin token or
$PUSHCAST_ADMIN_TOKEN), the campaign files, and the tracking secret of the workers
(engine/agents/track_secret.py).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from connectors.http import ApiContext, build_app
from connectors.http.ratelimit import ClientRateLimit
from connectors.push.config import allowlist_and_rates
from connectors.push.vapid import load_signer
from engine.agents.requests import ensure_replies_topic
from engine.agents.track_secret import track_secret, vapid_key_path
from engine.gateway.api import KafkaApi, Topics
from engine.gateway.producer import EventProducer
from engine.gateway.reports import MemoryReportClaims, RedisReportClaims
from engine.rules.config import MIN_TOKEN_LENGTH
from engine.rules.errors import PushcastError
from engine.shell.clock import clock_from_env
from engine.shell.identity import ENV as IDENTITY_ENV
from engine.shell.identity import identity_secret
from engine.shell.metrics import gateway_metrics
from engine.shell.reload import CampaignReloader, load_set

log = logging.getLogger("pushcast.gateway")
ROOT = Path(__file__).resolve().parents[2]
RELOAD_INTERVAL = 5.0  # seconds between checks of the campaign files, as the workers do


@dataclass
class GatewayOptions:
    kafka: str | None = None  # default: pushcast.yaml `kafka`, then 127.0.0.1:9092
    redis: str | None = None  # default: pushcast.yaml `redis`; "none": replayed reports caught per process
    topic_prefix: str = "pushcast-"
    app_id: str = "pushcast"  # the workers' --app-id: names the report claims in Redis
    config: Path | None = None
    campaigns: list[Path] = field(default_factory=lambda: [Path("campaigns.d")])
    host: str = "127.0.0.1"
    port: int = 8080
    open_events: bool = False
    browser_rate: float = 10.0
    sdk_dir: Path | None = None


def admin_token(config) -> str:
    """The same on every gateway and worker, so never generated here."""
    token = os.environ.get("PUSHCAST_ADMIN_TOKEN") or config.admin_token
    if not token:
        raise PushcastError("the gateway needs an admin token: set admin_token in pushcast.yaml or "
                            "$PUSHCAST_ADMIN_TOKEN (the same on every gateway and worker)")
    if len(token) < MIN_TOKEN_LENGTH:
        raise PushcastError(f"PUSHCAST_ADMIN_TOKEN: must be at least {MIN_TOKEN_LENGTH} characters "
                            "(try: openssl rand -hex 24)")
    return token


def vapid_public_key(config) -> str:
    path = vapid_key_path(config)
    if path is None:
        raise PushcastError("vapid.key: pushcast.yaml must name the workers' VAPID key (browsers subscribe "
                            "with its public half); make one with `pushcast vapid generate --out KEY`")
    try:
        return load_signer(path, config.vapid_subject or "mailto:push@localhost").public_key
    except (OSError, ValueError) as exc:
        raise PushcastError(f"vapid.key: cannot read {path} ({exc})") from None


async def check_topic(bootstrap: str, topic: str) -> None:
    """The events topic must exist: the workers make it with their partition count. Its
    metadata is never asked for before (that would let the broker auto-create it)."""
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.errors import KafkaError

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)
    try:
        await admin.start()
        names = await admin.list_topics()
    except KafkaError as exc:
        raise PushcastError(f"--kafka {bootstrap}: cannot reach Kafka ({exc})") from None
    finally:
        await admin.close()
    if topic not in names:
        raise PushcastError(f"Kafka topic {topic!r} does not exist: start a worker first (it creates the "
                            "topics), with the same --topic-prefix")


async def serve(options: GatewayOptions, *, ready: asyncio.Event | None = None,
                stop: asyncio.Event | None = None, out=sys.stdout) -> int:
    from engine.rules.config import load_config

    if options.browser_rate <= 0:
        raise PushcastError(f"--browser-rate: expected requests a second above 0, got {options.browser_rate}")
    config_path = options.config
    if config_path is not None and not config_path.exists():
        raise PushcastError(f"--config {config_path}: no such file")
    if config_path is None and Path("pushcast.yaml").exists():
        config_path = Path("pushcast.yaml")
    config = load_config(config_path)  # ConfigError: reported by the caller
    metrics = gateway_metrics()
    campaigns = CampaignReloader(options.campaigns, config_path, load_set(options.campaigns, config_path),
                                 metrics=metrics, interval=RELOAD_INTERVAL)
    token = admin_token(config)
    public_key = vapid_public_key(config)
    # Made once, atomically, by the first worker or gateway that finds none (beside the
    # VAPID key); every other process of the deployment reads the same file.
    secret = track_secret(config)
    try:  # the same user_hash check as pushcast run's browser routes
        identity = identity_secret(config.identity_secret)
    except ValueError as exc:
        raise PushcastError(str(exc)) from None
    try:
        allowlist, _rates, _default = allowlist_and_rates(config.push_services)
    except Exception as exc:
        raise PushcastError(f"push_services: {exc}") from None
    bootstrap = options.kafka or config.kafka or "127.0.0.1:9092"
    redis = options.redis if options.redis is not None else config.redis
    topics = Topics(bootstrap, f"{options.topic_prefix}events", f"{options.topic_prefix}reach-replies")

    await check_topic(bootstrap, topics.events)
    producer = EventProducer(bootstrap, topics.events)
    try:
        await producer.start()
    except Exception as exc:
        await producer.stop()
        raise PushcastError(f"--kafka {bootstrap}: cannot reach Kafka ({exc!r})") from None
    await ensure_replies_topic(bootstrap, topics.replies)
    if redis and redis != "none":
        claims = RedisReportClaims(redis, f"pushcast:{options.app_id}:report:")
    else:
        claims = MemoryReportClaims()
    api = KafkaApi(topics, campaigns, producer, secret, clock_from_env(), claims)
    ctx = ApiContext(api, allowlist, token, public_key, config.site_origins, metrics,
                     options.sdk_dir or ROOT / "sdk", campaigns, options.open_events,
                     ClientRateLimit(options.browser_rate, options.browser_rate * 4), identity_secret=identity)
    runner = web.AppRunner(build_app(ctx), access_log=None, handle_signals=False)
    await runner.setup()
    reloader = asyncio.create_task(campaigns.run())
    try:
        await web.TCPSite(runner, options.host, options.port).start()
        port = runner.addresses[0][1] if runner.addresses else options.port
        print(f"pushcast gateway: {len(campaigns().by_id)} campaign(s), events into {topics.events} on {bootstrap}",
              file=out)
        print(f"pushcast gateway: VAPID public key {public_key}", file=out)
        if identity is None:
            print("pushcast gateway: identity verification is off: browser routes trust the user id they are "
                  f"sent (set identity_secret in pushcast.yaml or ${IDENTITY_ENV} to require user_hash)", file=out)
        else:
            print("pushcast gateway: identity verification on: browser routes require user_hash", file=out)
        print(f"pushcast gateway: listening on http://{options.host}:{port} (demo page at /, SDK at /sdk/)",
              file=out, flush=True)
        stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(signum, stop.set)
            except (NotImplementedError, RuntimeError):
                pass
        if ready is not None:
            ready.set()
        await stop.wait()
    finally:
        reloader.cancel()
        await runner.cleanup()  # answers in flight finish first: their records are acknowledged
        await producer.stop()
        await claims.close()
        print("pushcast gateway: stopped", file=out, flush=True)
    return 0
