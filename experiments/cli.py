"""Command line of layer-attention-repro (called by ./reproduce.sh).

    ./reproduce.sh test [pytest args]        run the test suite
    ./reproduce.sh list [models|attention]   what can be built
    ./reproduce.sh params [--paper ela]      our parameter/FLOP counts beside the papers'
    ./reproduce.sh run --model M [...]       train and evaluate one configuration
"""
from __future__ import annotations

import argparse
import subprocess
import sys

from models import ConfigError

from .params import PAPERS, ROOT

EPILOG = """\
subcommands:
  test     run the test suite (extra arguments go to pytest, e.g. `test -k dia`)
  list     list registered models (optionally a shell pattern: `list models 'dia_*'`)
           or attention modules (`list attention`)
  run      train and evaluate one configuration into runs/<name>-<hash>/ (resumable;
           `run --help` lists every option), e.g.
           `run --model se_resnet20 --dataset fashionmnist --scale smoke`
  params   for every model row of every paper table in scope: our parameter count beside
           the paper's, FLOPs where the paper prints them, MISMATCH with a reason where they
           disagree beyond the paper's rounding (`params --paper dia --table table4`);
           every explained difference is in results/paper/params_differences.csv

examples:
  ./reproduce.sh test
  ./reproduce.sh params --paper ela
  ./reproduce.sh list models '*resnet164'
"""


def _cmd_test(args: argparse.Namespace, extra: list[str]) -> int:
    cmd = [sys.executable, "-m", "pytest", "tests", *extra]
    return subprocess.call(cmd, cwd=ROOT)


def _cmd_list(args: argparse.Namespace, extra: list[str]) -> int:
    if args.what == "attention":
        from models.attention import list_attn

        print("\n".join(list_attn()))
        return 0
    from models import list_models

    names = list_models(args.pattern)
    if not names:
        raise ConfigError(f"no model matches {args.pattern!r}; try `./reproduce.sh list models`")
    print("\n".join(names))
    print(f"({len(names)} models)", file=sys.stderr)
    return 0


def _cmd_params(args: argparse.Namespace, extra: list[str]) -> int:
    from .params import params_report

    import pandas as pd

    report = params_report(args.paper, args.table, flops=not args.no_flops)
    with pd.option_context("display.max_rows", None, "display.max_colwidth", 70, "display.width", 250):
        print(report.to_string(index=False))
    counts = report["status"].value_counts().to_dict()
    print("\n" + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))
    if args.csv:
        report.to_csv(args.csv, index=False)
    unexplained = report["reason"].str.endswith("UNEXPLAINED") | (report["status"] == "MISSING")
    return 1 if args.strict and unexplained.any() else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="./reproduce.sh",
        description="Reproduce the ELA, DLA and DIA papers' tables and figures.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="<subcommand>")
    sub.add_parser("test", help="run the test suite")
    sub.add_parser("run", help="train and evaluate one configuration", add_help=False)
    p = sub.add_parser("list", help="list models or attention modules")
    p.add_argument("what", nargs="?", default="models", choices=["models", "attention"])
    p.add_argument("pattern", nargs="?", default="*", help="shell-style pattern, e.g. 'dia_*'")
    p = sub.add_parser("params", help="parameter/FLOP counts beside the papers'")
    p.add_argument("--paper", choices=PAPERS)
    p.add_argument("--table", help="e.g. table1, table4")
    p.add_argument("--no-flops", action="store_true", help="skip FLOP counting (faster)")
    p.add_argument("--csv", help="also write the report to this CSV file")
    p.add_argument("--strict", action="store_true", help="exit 1 on an unexplained MISMATCH or a MISSING model")

    args, extra = parser.parse_known_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if args.command == "run":
        from .run import main as run_main

        return run_main(extra)
    if extra and args.command != "test":
        parser.error(f"unrecognised arguments: {' '.join(extra)}")
    handler = {"test": _cmd_test, "list": _cmd_list, "params": _cmd_params}[args.command]
    try:
        return handler(args, extra)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
