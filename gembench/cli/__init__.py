"""gembench: benchmark neural-network activation functions across backends.

Commands:
  list        activations, backends (availability here) and the built-in suites
  run         run a suite (built-in name such as smoke, or a YAML file); write results, report
  report      markdown report (and PNG plots, or one HTML page) of results files
  compare     compare two runs case by case (drift-free ratios); exit 1 on a regression
  ab          is NEW slower than BASE? both timed side by side; exit 1 when it is
  merge       merge results files (shards, machines) into one results set
  export      export results to a benchmark dashboard's format
  accuracy    worst forward/backward error per backend and dtype, in dtype epsilons
  likeness    distance to ReLU, dead-gradient share, f(0), f'(0) of each activation
  crosscheck  re-time hot cases with gembench and torch.utils.benchmark, alternately
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from gembench.cli import compare, info, results, run
from gembench.cli.common import UserError

#: the modules that add commands, in the order ``--help`` lists them; each has
#: ``add_parsers(sub)``. A new command is a module here and one entry.
COMMAND_MODULES = (info, run, results, compare)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gembench", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Benchmark neural-network activation functions across backends.",
        epilog="Start with: gembench list; gembench run smoke --quick; gembench report "
               "results/smoke/TIMESTAMP\n'gembench COMMAND --help' describes each command.")
    sub = parser.add_subparsers(dest="command", required=True, title="commands",
                                metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except UserError as exc:
        print(f"gembench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("gembench: interrupted", file=sys.stderr)
        return 130
