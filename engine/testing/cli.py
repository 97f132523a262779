"""The options of `pushcast test` that choose a real runtime, and the choice itself."""

from __future__ import annotations

import argparse
from typing import IO

RUNTIMES = ("simulated", "embedded", "kafka")


def add_runtime_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runtime", choices=RUNTIMES, default="simulated",
                        help="simulated (default): the simulator; embedded: a `pushcast run` process on a test "
                             "clock; kafka: `pushcast worker` processes on a file clock. Real runtimes deliver "
                             "to the push-service emulator (node_modules/web-push-testing)")
    kafka = parser.add_argument_group("--runtime kafka")
    kafka.add_argument("--kafka", metavar="HOST:PORT", help="Kafka bootstrap servers (required with --runtime kafka)")
    kafka.add_argument("--redis", metavar="URL", default="none",
                       help="redis:// URL the workers share (default: none, no de-duplication across workers)")
    kafka.add_argument("--workers", type=int, default=1, help="worker processes per test file (default 1)")
    kafka.add_argument("--topic-prefix", metavar="PREFIX",
                       help="prefix of each file's topics and app id (default: a fresh pushcast-test-<random>-)")


def run_with_runtime(args: argparse.Namespace, out: IO[str]) -> int:
    from engine.testing.emulator import EmulatorError
    from engine.testing.replay import run_real_files

    if args.runtime == "embedded":
        from engine.testing.embedded import EmbeddedRuntime

        def make(files, directory, start_ms):
            return EmbeddedRuntime(files, directory, start_ms)
    else:
        if not args.kafka:
            out.write("pushcast test: --runtime kafka needs --kafka HOST:PORT\n")
            return 2
        if args.workers < 1:
            out.write(f"pushcast test: --workers: expected 1 or more, got {args.workers}\n")
            return 2
        from engine.testing.kafka import KafkaOptions, KafkaRuntime

        options = KafkaOptions(args.kafka, args.redis, args.workers, args.topic_prefix)

        def make(files, directory, start_ms):
            return KafkaRuntime(files, directory, start_ms, options)
    try:
        return run_real_files(args.files, out, make, verbose=args.verbose)
    except EmulatorError as error:
        out.write(f"pushcast test: {error}\n")
        return 2
