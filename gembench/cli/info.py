"""``list``, ``accuracy`` and ``likeness``: what gembench knows, how exact each backend is,
how ReLU-like each activation is."""

from __future__ import annotations

import argparse
from typing import Any

from tabulate import tabulate

from gembench.activations import catalog as _acts
from gembench.backends import backend, backend_names
from gembench.cli.common import UserError


def cmd_list(args: argparse.Namespace) -> int:
    """Activations, backends and built-in suites; 120 columns wide unless ``--verbose``."""
    rows = []
    for name, d in _acts.CATALOG.items():
        params = "\n".join(f"{p.name}={p.default:g} ({p.requirement})" for p in d.params) or "-"
        rows.append([name, params, "yes" if d.transcendental_free else "no", d.summary])
    print("Activations")
    print(tabulate(rows, headers=["name", "parameters (default)", "transc.-free", "formula"],
                   maxcolwidths=None if args.verbose else [None, None, None, 48]))
    from gembench.activations.registry import origins_text

    if text := origins_text():
        print(text)
    from gembench.backends import plugins

    names = backend_names()
    outside = [n for n in names if n in plugins.REGISTRY or n in plugins.FAILED]
    _print_backends("Backends", [n for n in names if n not in outside], args.verbose)
    if outside:
        _print_backends("Implementations registered from outside gembench", outside,
                        args.verbose)
    _print_suites()
    if not args.verbose:
        print("\n(gembench list --verbose: dtypes and per-device notes of each backend)")
    return 0


def _print_suites() -> None:
    """The suites shipped in the package, with their one-line description."""
    from gembench.plan.builtin import descriptions

    print("\nBuilt-in suites (gembench run NAME, from any directory)")
    print(tabulate(list(descriptions().items()), headers=["name", "description"],
                   maxcolwidths=[None, 100]))


def _print_backends(title: str, names: list[str], verbose: bool = False) -> None:
    """One table row per backend: availability with the reason, devices here, what it is;
    ``verbose`` adds dtypes and per-device notes."""
    rows = []
    for name in names:
        be = backend(name)
        avail = be.availability()
        status = "available" if avail else f"unavailable: {avail.reason}"
        devices, notes = [], []
        if avail:
            for d in be.devices:
                why = be.device_unavailable(d)
                if why:
                    notes.append(f"{d}: {why}")
                    continue
                devices.append(d)
                timing = be.timing_unsupported(d)
                if timing:
                    notes.append(f"{d}: {timing}")
        rows.append([name, status, ", ".join(be.dtypes), ", ".join(devices) or "-",
                     "; ".join(notes) or "-", be.summary])
    print(f"\n{title}")
    if verbose:
        print(tabulate(rows, headers=["name", "status", "dtypes", "devices here", "notes",
                                      "what it is"], maxcolwidths=[None, 40, 20, None, 60, 60]))
        return
    short = [[r[0], r[1] if r[3] != "-" or r[4] == "-" else f"{r[1]}; no device here: {r[4]}",
              r[3], r[5]] for r in rows]  # why a backend cannot run here stays in view
    print(tabulate(short, headers=["name", "status", "devices here", "what it is"],
                   maxcolwidths=[None, 34, 12, 46]))


def cmd_accuracy(args: argparse.Namespace) -> int:
    import os

    os.environ.setdefault("TRITON_INTERPRET", "1")  # Triton kernels in the interpreter on CPU
    from gembench.surveys import accuracy_survey

    unknown = [b for b in args.backends if b not in backend_names()]
    if unknown:
        raise UserError(f"unknown backend {unknown[0]!r}; expected one of "
                        f"{', '.join(backend_names())}")
    rows = accuracy_survey(args.backends or None)
    print(tabulate([[r["backend"], r["dtype"], r["activations"],
                     f"{r['forward_eps']:.3g} ({r['forward_worst']})",
                     f"{r['backward_eps']:.3g} ({r['backward_worst']})",
                     f"{r['forward_tol']} / {r['backward_tol']}"] for r in rows],
                   headers=["backend", "dtype", "activations", "worst forward eps (where)",
                            "worst backward eps (where)", "tolerance fwd / bwd"]))
    bad = [r for r in rows if r["forward_eps"] > r["forward_tol"]
           or r["backward_eps"] > r["backward_tol"]]
    return 1 if bad else 0


def cmd_likeness(args: argparse.Namespace) -> int:
    from gembench.activations.likeness import likeness_report

    try:
        print(likeness_report(args.activations))
    except _acts.ParameterError as exc:
        raise UserError(str(exc)) from None
    return 0


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("list", help="activations, backends (availability here) and the "
                                    "built-in suites")
    p.add_argument("--verbose", "-v", action="store_true",
                   help="every backend's dtypes and per-device notes (wider than 120 columns)")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("accuracy", help="worst forward/backward error per backend and dtype, "
                                        "in dtype epsilons, over every activation")
    p.add_argument("backends", nargs="*", help="backends (default: all available)")
    p.set_defaults(func=cmd_accuracy)

    p = sub.add_parser("likeness", help="distance to ReLU (L1, L2, sup), dead-gradient share, "
                                        "f(0), f'(0) at the papers' parameters")
    p.add_argument("activations", nargs="*", help="activation names (default: all)")
    p.set_defaults(func=cmd_likeness)
