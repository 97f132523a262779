"""The Faust floor: the worker's Faust app (engine/agents/faust_app.py `build_app`: the same
transport, consumer settings and fetch wait) with one agent on the events topic that takes
the same batches as the user agent and does nothing with them. Faust acknowledges and
commits what the agent took, so the floor's progress is its group's committed lag, as the
worker's is. bench/bench_kafka.py runs it in the same invocation as the worker and prints
the ratio; run alone it consumes until stopped:

    .venv/bin/python bench/bench_faust_floor.py --kafka 127.0.0.1:19092 --app-id floor-x \\
        --topic pushcast-events --partitions 8 --data-dir /tmp/floor
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def run(argv: list[str]) -> None:
    import faust

    from engine.agents.faust_app import build_app, quiet_root_logger
    from engine.agents.settings import WorkerSettings
    from engine.shell.collector import tune_collector

    parser = argparse.ArgumentParser()
    parser.add_argument("--kafka", required=True)
    parser.add_argument("--app-id", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--uvloop", action="store_true", help="run Faust on uvloop (as `pushcast worker`)")
    args = parser.parse_args(argv)
    loop = _uvloop() if args.uvloop else None  # before the app: Faust keeps the loop current then
    settings = WorkerSettings(bootstrap=args.kafka, app_id=args.app_id, events_topic=args.topic,
                              partitions=args.partitions, data_dir=args.data_dir, standby_replicas=0)
    app = build_app(settings)
    topic = app.topic(settings.events_topic, partitions=settings.partitions, key_serializer="raw",
                      value_serializer="raw")

    async def floor_agent(stream):
        async for _events in stream.take_events(settings.batch_size, within=settings.batch_within):
            pass

    app.agent(topic, name="floor")(floor_agent)

    @app.task
    async def quiet() -> None:
        quiet_root_logger(settings)

    tune_collector()  # the worker's process settings (engine/cli_worker.py)
    worker = faust.Worker(app, loglevel=settings.loglevel.upper(), quiet=True,
                          loop=loop)
    worker.execute_from_commandline()


def _uvloop():
    import asyncio

    import uvloop

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())  # Faust's consumer thread too, as the worker
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    return loop


def start(bootstrap: str, app_id: str, topic: str, partitions: int, data_dir: Path, log: Path,
          uvloop: bool = False) -> subprocess.Popen:
    """The floor as a subprocess (as the worker runs), its output in `log`."""
    args = [sys.executable, str(Path(__file__).resolve()), "--kafka", bootstrap, "--app-id", app_id,
            "--topic", topic, "--partitions", str(partitions), "--data-dir", str(data_dir)]
    with open(log, "ab") as out:
        return subprocess.Popen(args + (["--uvloop"] if uvloop else []), cwd=ROOT, stdout=out,
                                stderr=subprocess.STDOUT)


if __name__ == "__main__":
    run(sys.argv[1:])
