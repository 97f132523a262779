"""The `pushcast` command line: one subcommand per job, each a thin call into a module."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _check(args: argparse.Namespace) -> int:
    from engine.rules.check import run_check

    return run_check(args.paths or [Path("campaigns.d")], sys.stdout)


def _test(args: argparse.Namespace) -> int:
    if args.runtime == "simulated":
        from engine.testing.runner import run_test_files

        code = run_test_files(args.files, sys.stdout, verbose=args.verbose)
    else:
        from engine.testing.cli import run_with_runtime

        code = run_with_runtime(args, sys.stdout)
    if args.coverage or args.coverage_fail_under is not None:
        from engine.testing.coverage import report_coverage

        code = max(code, report_coverage(args.files, sys.stdout, args.coverage_fail_under))
    return code


def _schema(args: argparse.Namespace) -> int:
    from engine.rules.reference import schema_path

    sys.stdout.write(schema_path(args.format).read_text(encoding="utf-8"))
    return 0


def build_parser(light: bool = False) -> argparse.ArgumentParser:
    """Every subcommand; with `light`, only check and test (LIGHT_COMMANDS)."""
    parser = argparse.ArgumentParser(prog="pushcast", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    check = sub.add_parser("check", help="validate campaign files (exit 1 on any error)")
    check.add_argument("paths", nargs="*", type=Path, help="files or folders (default: campaigns.d)")
    check.set_defaults(func=_check)

    test = sub.add_parser("test", help="run campaign test files (simulated clock, or a real runtime on a test clock)")
    test.add_argument("files", nargs="+", type=Path)
    test.add_argument("-v", "--verbose", action="store_true", help="show every notification")
    test.add_argument("--coverage", action="store_true",
                      help="list, per campaign, the branches (segment failed, DND delay, each limit, ...) no case "
                           "exercised; the exit code is unchanged")
    test.add_argument("--coverage-fail-under", type=float, metavar="PERCENT",
                      help="with coverage: exit 1 when under PERCENT of all branches are exercised")
    __import__("engine.testing.cli", fromlist=["add_runtime_arguments"]).add_runtime_arguments(test)
    test.set_defaults(func=_test)

    schema = sub.add_parser("schema", help="print the JSON Schema of a file format, for editors")
    schema.add_argument("format", choices=("campaign", "pushcast", "campaign-test"))
    schema.set_defaults(func=_schema)

    if light:
        return parser
    from engine.cli_vapid import add_vapid_parser

    add_vapid_parser(sub)

    from engine.cli_run import add_run_parser, add_stats_parser

    add_run_parser(sub)
    add_stats_parser(sub)

    from engine.cli_batch import add_backtest_parser

    add_backtest_parser(sub)

    from engine.cli_schedule import add_reach_parser, add_send_test_parser

    add_reach_parser(sub)
    add_send_test_parser(sub)
    __import__("engine.cli_explain", fromlist=["add_explain_parser"]).add_explain_parser(sub)
    __import__("engine.cli_worker", fromlist=["add_worker_parser"]).add_worker_parser(sub)
    __import__("engine.cli_produce", fromlist=["add_produce_parser"]).add_produce_parser(sub)
    __import__("engine.cli_gateway", fromlist=["add_gateway_parser"]).add_gateway_parser(sub)
    return parser


# Subcommands parsed without importing the other commands' modules,
# so that they load no runtime, crypto or Kafka module (tests/unit/cli/test_cli_imports.py).
LIGHT_COMMANDS = ("check", "test", "schema")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    light = bool(argv) and argv[0] in LIGHT_COMMANDS
    args = build_parser(light=light).parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
