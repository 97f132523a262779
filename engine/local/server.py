"""`pushcast run`: wires the store, the runtime, timers, the sender, the campaign
watcher, an events file and the HTTP API into one asyncio process, and takes it down
cleanly on SIGTERM/SIGINT (SIGHUP reloads the campaigns)."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from connectors.http import ApiContext, build_app
from connectors.http.ratelimit import ClientRateLimit
from connectors.push import AllowList, MemoryRateLimiter, Rate, Sender
from connectors.push.errors import PushError
from engine.core import CampaignSet
from engine.core.isotime import parse_iso
from engine.errors import PushcastError
from engine.local import keys
from engine.local.api import EmbeddedApi
from engine.local.events_file import EventFileReader
from engine.local.outbox import OutboxSender
from engine.local.runtime import Prune, Runtime
from engine.local.schedule import Scheduler
from engine.local.store import Store
from engine.local.winners import WinnerJudge
from engine.rules.config import load_config
from engine.rules.errors import ConfigError
from engine.rules.loader import load_campaigns
from engine.shell.collector import tune_collector
from engine.shell.clock import ManualClock, SystemClock, now_ms
from engine.shell.identity import ENV as IDENTITY_ENV
from engine.shell.identity import identity_secret
from engine.shell.metrics import embedded_metrics
from engine.shell.reload import CampaignReloader

log = logging.getLogger("pushcast")
ROOT = Path(__file__).resolve().parents[2]
PRUNE_INTERVAL = 3600.0
SEND_GRACE = 5.0  # seconds a stop waits for sends in flight


@dataclass
class RunOptions:
    config: Path | None = None
    campaigns: Path = Path("campaigns.d")
    events: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    state_dir: Path | None = None
    test_clock: str | None = None  # "now" or an ISO datetime: the clock tests move
    open_events: bool = False
    sdk_dir: Path | None = None
    browser_rate: float = 10.0  # requests a second per address on browser endpoints


class StartupError(PushcastError):
    """Something to fix before the runtime can start; the message says what."""


def build_allowlist(config) -> tuple[AllowList, MemoryRateLimiter]:
    """The allow-list and per-service rates from `push_services` (a listed set replaces
    the built-in hosts; loopback origins are for tests and local push services)."""
    from connectors.push.config import allowlist_and_rates

    try:
        allowlist, rates, default = allowlist_and_rates(config.push_services)
    except PushError as exc:
        raise StartupError(f"push_services: {exc}") from None
    return allowlist, MemoryRateLimiter(rates, default)


def _resolve(base: Path | None, value: str | Path) -> Path:
    path = Path(value)
    return path if path.is_absolute() or base is None else base / path


def _config_path(options: RunOptions) -> Path | None:
    if options.config is not None:
        if not options.config.exists():
            raise StartupError(f"--config {options.config}: no such file")
        return options.config
    default = Path("pushcast.yaml")
    return default if default.exists() else None


def _clock(options: RunOptions, store: Store):
    if options.test_clock is None:
        return SystemClock()
    saved = store.get_meta("test_clock")
    if saved is not None:  # a restart goes on from where the tests left the clock
        return ManualClock(int(saved))
    if options.test_clock in ("", "now"):
        return ManualClock(now_ms())
    try:
        return ManualClock(parse_iso(options.test_clock))
    except ValueError:
        raise StartupError(f"--test-clock: expected an ISO 8601 datetime or 'now', got {options.test_clock!r}") from None


async def serve(options: RunOptions, *, ready: asyncio.Event | None = None, stop: asyncio.Event | None = None,
                out=sys.stdout) -> int:
    config_path = _config_path(options)
    config = load_config(config_path)  # ConfigError: reported by the caller
    base = config_path.parent if config_path is not None else None
    state_dir = options.state_dir or _resolve(base, config.state_dir)
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)  # user data and secrets
    campaigns = CampaignSet(load_campaigns([options.campaigns]), config)
    allowlist, limiter = build_allowlist(config)
    key_path = _resolve(base, config.vapid_key) if config.vapid_key else state_dir / keys.VAPID_KEY_FILE
    signer, public_key, generated_key = keys.vapid_signer(key_path, config.vapid_subject)
    token, generated_token = keys.admin_token(config.admin_token, state_dir)
    secret = keys.track_secret(state_dir)
    try:
        identity = identity_secret(config.identity_secret)
    except ValueError as exc:
        raise StartupError(str(exc)) from None

    store = Store.open_dir(state_dir)
    metrics = embedded_metrics()
    runtime = Runtime(store, campaigns, secret=secret, clock=_clock(options, store), metrics=metrics)
    sender = Sender(signer, allowlist=allowlist, rate_limiter=limiter)
    outbox = OutboxSender(runtime, sender, metrics=metrics)
    scheduler = Scheduler(runtime)
    watcher = CampaignReloader([options.campaigns], config_path, campaigns, metrics=metrics)
    judge = WinnerJudge(runtime)
    watcher.on_change(judge.reloaded)
    watcher.on_change(lambda _new: scheduler.changed.set())  # new schedules: re-plan
    sdk_dir = options.sdk_dir or ROOT / "sdk"
    if options.browser_rate <= 0:
        raise StartupError(f"--browser-rate: expected requests a second above 0, got {options.browser_rate}")
    ctx = ApiContext(EmbeddedApi(runtime), allowlist, token, public_key, config.site_origins, metrics, sdk_dir, watcher,
                     options.open_events, ClientRateLimit(options.browser_rate, options.browser_rate * 4),
                     identity_secret=identity)
    app_runner = web.AppRunner(build_app(ctx), access_log=None, handle_signals=False)
    await app_runner.setup()
    site = web.TCPSite(app_runner, options.host, options.port)
    await site.start()
    port = app_runner.addresses[0][1] if app_runner.addresses else options.port

    loop = asyncio.get_running_loop()
    stop = stop or asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(signum, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    try:
        loop.add_signal_handler(signal.SIGHUP, watcher.requested.set)
    except (NotImplementedError, RuntimeError, AttributeError):
        pass

    tasks = [asyncio.create_task(coro, name=name) for name, coro in (
        ("writer", runtime.run_writer()), ("timers", runtime.run_timers()), ("sender", outbox.run()),
        ("watcher", watcher.run()), ("scheduler", scheduler.run()), ("pruner", _prune(runtime)),
        ("winners", judge.run()))]
    if options.events is not None:
        tasks.append(asyncio.create_task(EventFileReader(runtime, options.events, allowlist, metrics).run(),
                                         name="events-file"))

    print(f"pushcast: {len(campaigns.by_id)} campaign(s) from {options.campaigns}, state in {state_dir}", file=out)
    if generated_key:
        print(f"pushcast: generated VAPID keys in {key_path}", file=out)
    print(f"pushcast: VAPID public key {public_key}", file=out)
    if generated_token:
        print(f"pushcast: generated admin token {token} (kept in {state_dir / keys.ADMIN_TOKEN_FILE})", file=out)
    if identity is None:
        print("pushcast: identity verification is off: browser routes trust the user id they are sent "
              f"(set identity_secret in pushcast.yaml or ${IDENTITY_ENV} to require user_hash)", file=out)
    else:
        print("pushcast: identity verification on: browser routes require user_hash", file=out)
    if options.test_clock is not None:
        print("pushcast: test clock on (POST /v1/admin/clock moves it)", file=out)
    print(f"pushcast: listening on http://{options.host}:{port} (demo page at /, SDK at /sdk/)", file=out, flush=True)
    if ready is not None:
        ready.set()

    code = 0
    stopper = asyncio.create_task(stop.wait())
    try:
        done, _ = await asyncio.wait([stopper, *[t for t in tasks if t.get_name() != "events-file"]],
                                     return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not stopper and not task.cancelled() and task.exception() is not None:
                log.error("task %s failed: %r; stopping", task.get_name(), task.exception())
                code = 1
    finally:
        stopper.cancel()
        await app_runner.cleanup()
        for task in tasks:
            if task.get_name() != "writer":
                task.cancel()
        await asyncio.gather(*[t for t in tasks if t.get_name() != "writer"], return_exceptions=True)
        await outbox.close(grace=SEND_GRACE)
        writer = next(t for t in tasks if t.get_name() == "writer")
        runtime.stop_writer()
        await asyncio.gather(writer, return_exceptions=True)
        await runtime.drain()
        await sender.close()
        store.close()
        print("pushcast: stopped", file=out, flush=True)
    return code


async def _prune(runtime: Runtime, interval: float = PRUNE_INTERVAL) -> None:
    while True:
        try:
            await runtime.submit([Prune(runtime.clock.now())])
        except Exception:  # a failed batch (disk full, locked): try again next time
            log.exception("pruning failed; retrying in %.0f s", interval)
        await asyncio.sleep(interval)


def run(options: RunOptions) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    tune_collector()  # rarer cycle-collector passes (engine/shell/collector.py)
    try:
        return asyncio.run(serve(options))
    except ConfigError as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        print(f"pushcast run: {len(error.problems)} problem(s); fix them and start again", file=sys.stderr)
        return 1
    except (StartupError, PushError) as error:
        print(f"pushcast run: {error}", file=sys.stderr)
        return 1
