"""Command line: ``python -m gembench {list,run,report,compare}``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from tabulate import tabulate

from . import catalog as _acts
from .backends import backend, backends


class UserError(Exception):
    """A mistake in what the user asked for: printed as one clear message, no traceback."""


def cmd_list(args: argparse.Namespace) -> int:
    rows = []
    for name, d in _acts.CATALOG.items():
        params = ", ".join(f"{p.name}={p.default:g} ({p.requirement})" for p in d.params) or "-"
        rows.append([name, params, "yes" if d.transcendental_free else "no", d.summary])
    print("Activations")
    print(tabulate(rows, headers=["name", "parameters (default)", "transcendental-free",
                                  "formula"]))
    rows = []
    for name in backends():
        be = backend(name)
        avail = be.availability()
        status = "available" if avail else f"unavailable: {avail.reason}"
        devices = ", ".join(d for d in be.devices if not be.device_unavailable(d))
        rows.append([name, status, ", ".join(be.dtypes), devices or "-", be.summary])
    print("\nBackends")
    print(tabulate(rows, headers=["name", "status", "dtypes", "devices here", "what it is"]))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gembench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("list", help="activations with parameters; backends with availability")
    p.set_defaults(func=cmd_list)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except UserError as exc:
        print(f"gembench: error: {exc}", file=sys.stderr)
        return 2
