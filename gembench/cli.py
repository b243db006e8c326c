"""gembench: benchmark neural-network activation functions across backends.

Commands:
  list        activations, backends (availability here) and the built-in suites
  run         run a suite (built-in name such as smoke, or a YAML file); write results, report
  report      markdown report (and PNG plots, or one HTML page) of results files
  compare     compare two runs case by case; exit 1 on a regression
  merge       merge results files (shards, machines) into one results set
  export      export results to a benchmark dashboard's format
  accuracy    worst forward/backward error per backend and dtype, in dtype epsilons
  likeness    distance to ReLU, dead-gradient share, f(0), f'(0) of each activation
  crosscheck  re-time hot cases with gembench and torch.utils.benchmark, alternately
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from tabulate import tabulate

from gembench.activations import catalog as _acts
from gembench.backends import backend, backend_names
from gembench.engine.executors import EXECUTORS

if TYPE_CHECKING:
    from gembench.plan.suite import Suite


class UserError(Exception):
    """A mistake in what the user asked for: printed as one clear message, no traceback."""


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


def _default_out(suite_name: str, resume: bool) -> Path:
    """``results/NAME/TIMESTAMP`` (NAME is already safe as a path component), or with
    ``--resume`` the latest run directory of that suite."""
    root = Path("results") / suite_name
    if resume:
        runs = sorted(p for p in root.glob("*") if (p / "results.jsonl").exists())
        if not runs:
            raise UserError(f"--resume: no earlier run of suite {suite_name!r} under {root}/")
        return runs[-1]
    return root / datetime.now().strftime("%Y%m%d-%H%M%S")


def _announce(suite: Suite, filter_expr: str | None, shard: str | None) -> str:
    """``suite smoke (462 cases)``; with ``--filter`` ``suite smoke: 4 of 462 cases (filter
    EXPR)``, the number that will run (a bad filter is refused by the run itself)."""
    from gembench.engine.runner import RunError, matches

    total = len(suite.cases)
    part = f", shard {shard}" if shard else ""
    if not filter_expr:
        return f"suite {suite.name} ({total} cases{part})"
    try:
        chosen = sum(matches(c, filter_expr) for c in suite.cases)
    except RunError:
        return f"suite {suite.name} ({total} cases{part})"
    return f"suite {suite.name}: {chosen} of {total} cases (filter {filter_expr}{part})"


def cmd_run(args: argparse.Namespace) -> int:
    from gembench.engine.executors import ExecutorError, executor
    from gembench.engine.runner import RunError, run_suite
    from gembench.plan.shard import ShardError, parse_shard
    from gembench.plan.suite import SuiteError, load_suite
    from gembench.report.output import ReportOutputError
    from gembench.report.summary import print_summary
    from gembench.results import ResultsError
    from gembench.results.store import load_run

    try:
        shard = parse_shard(args.shard) if args.shard is not None else None
        runner = executor(args.executor, address=args.address,
                          accelerator_type=args.accelerator_type)
        suite = load_suite(args.suite, quick=args.quick, device=args.device)
    except (SuiteError, ShardError, ExecutorError) as exc:
        raise UserError(str(exc)) from None
    out = Path(args.out) if args.out else _default_out(suite.name, args.resume)
    print(f"gembench: {_announce(suite, args.filter, args.shard)} -> {out}/results.jsonl",
          file=sys.stderr)
    try:
        results = run_suite(suite, out, resume=args.resume, filter_expr=args.filter,
                            progress=not args.no_progress, allocator=args.allocator,
                            profile=args.profile, shard=shard, executor=runner)
        if shard and not load_run(results)[1]:
            print(f"gembench: shard {shard[0]}/{shard[1]} is empty (fewer comparison groups "
                  "than shards): an empty run, nothing measured", file=sys.stderr)
    except (RunError, ResultsError, ExecutorError) as exc:
        raise UserError(str(exc)) from None
    except KeyboardInterrupt:
        again = ["python", "-m", "gembench", "run", args.suite, "--out", str(out), "--resume"]
        again += [f"--filter={args.filter}"] if args.filter else []
        print(f"gembench: interrupted; the finished cases are kept in {out}/results.jsonl; "
              f"continue with: {shlex.join(again)}", file=sys.stderr)
        return 130
    try:
        report = _write_report([results], None)
    except (ResultsError, ReportOutputError) as exc:
        print(f"gembench: warning: no report: {exc}; the results are complete, write it "
              f"later with: gembench report {results}", file=sys.stderr)
        report = None
    # case counts, then the verdict, the report and the results: the last things printed;
    # exit 1: a case failed; 3: a headline figure withheld because the machine was busy
    return print_summary(results, report, wide=args.wide)


def _write_report(results: list[Path], out: Path | None) -> Path | None:
    try:
        from gembench.report.output import write_report_to
    except ImportError:
        return None
    return write_report_to(results, out)


def cmd_report(args: argparse.Namespace) -> int:
    from gembench.report.output import ReportOutputError, write_report_to
    from gembench.results import ResultsError
    from gembench.results.paths import check_out_file

    results = [Path(p) for p in args.results]
    try:
        if args.out:  # never over an input or any results file
            check_out_file(Path(args.out), results, "--out")
        if args.html:
            from gembench.report.html import write_html

            print(f"html report: {write_html(results, Path(args.html))}")
        if args.out or not args.html:
            print(f"report: {write_report_to(results, Path(args.out) if args.out else None)}")
    except (ResultsError, ReportOutputError) as exc:
        raise UserError(str(exc)) from None
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from gembench.report.export import ExportError, write_export
    from gembench.results import ResultsError

    try:
        text = write_export([Path(p) for p in args.results], args.format,
                            Path(args.out) if args.out else None)
    except (ExportError, ResultsError) as exc:
        raise UserError(str(exc)) from None
    if args.out:
        print(f"export: {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    from gembench.results.merge import MergeError, merge

    try:
        done = merge([Path(p) for p in args.results], Path(args.out), force=args.force)
    except MergeError as exc:
        raise UserError(f"merge: {exc}") from None
    for case_id, key, kept in done.duplicates:
        print(f"merge: {case_id} measured more than once on machine {key}; kept the last "
              f"(from {kept})", file=sys.stderr)
    for line in done.incomplete + ([f"{done.skipped} damaged or malformed record(s) skipped"]
                                   if done.skipped else []):
        print(f"gembench: warning: merge: {line}", file=sys.stderr)
    print(f"merged {done.runs} run(s), {done.cases} case(s) from {len(done.machines)} "
          f"machine(s) -> {done.path}" + (" (already there, unchanged)" if done.unchanged
                                          else ""))
    for key, label in done.machines.items():
        print(f"  machine {key}: {label}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from gembench.compare import CompareError, run_compare
    from gembench.results import ResultsError

    try:
        return run_compare(args.base, args.new, args.threshold, args.alpha,
                           metric=args.metric, show_all=args.all)
    except (CompareError, ResultsError) as exc:
        raise UserError(str(exc)) from None


def cmd_ab(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from gembench.ab import AbError, run_ab
    from gembench.compare import CompareError, parse_threshold
    from gembench.engine.runner import RunError, matches
    from gembench.plan.suite import SuiteError, load_suite
    from gembench.results import ResultsError

    try:
        suite = load_suite(args.suite, quick=args.quick, device=args.device)
        suite = replace(suite, cases=[c for c in suite.cases if matches(c, args.filter)])
        out = Path(args.out) if args.out else _default_out(f"{suite.name}-ab", False)
        return run_ab(suite, args.base, args.new, out, args.repeats,
                      parse_threshold(args.threshold), args.alpha,
                      progress=not args.no_progress)
    except (SuiteError, AbError, CompareError, RunError, ResultsError) as exc:
        raise UserError(str(exc)) from None


def cmd_accuracy(args: argparse.Namespace) -> int:
    import os

    os.environ.setdefault("TRITON_INTERPRET", "1")  # Triton kernels in the interpreter on CPU
    from gembench.activations.accuracy import survey

    unknown = [b for b in args.backends if b not in backend_names()]
    if unknown:
        raise UserError(f"unknown backend {unknown[0]!r}; expected one of "
                        f"{', '.join(backend_names())}")
    rows = survey(args.backends or None)
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gembench", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Benchmark neural-network activation functions across backends.",
        epilog="Start with: gembench list; gembench run smoke --quick; gembench report "
               "results/smoke/TIMESTAMP\n'gembench COMMAND --help' describes each command.")
    sub = parser.add_subparsers(dest="command", required=True, title="commands",
                                metavar="COMMAND")
    p = sub.add_parser("list", help="activations, backends (availability here) and the "
                                    "built-in suites")
    p.add_argument("--verbose", "-v", action="store_true",
                   help="every backend's dtypes and per-device notes (wider than 120 columns)")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("run", help="run a suite (a built-in name such as smoke, or a YAML "
                                   "file); write results (JSON lines) and a report")
    p.add_argument("suite", help="a built-in suite's name (gembench list names them, e.g. "
                                 "smoke) or a suite YAML file")
    p.add_argument("--out", help="output directory (default results/SUITE/TIMESTAMP)")
    p.add_argument("--filter", help="only cases matching, e.g. 'backend=torch_*,pass=forward'")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted run, skipping finished cases")
    p.add_argument("--quick", action="store_true", help="a tenth of the timing budget")
    p.add_argument("--device", choices=["cpu", "cuda", "auto"], help="override the suite's devices")
    p.add_argument("--allocator", choices=["default", "caching"],
                   help="override the suite's glibc allocator setting (caching: keep freed "
                        "memory, MALLOC_MMAP_THRESHOLD_/MALLOC_TRIM_THRESHOLD_ = 4 GiB)")
    p.add_argument("--profile", action="store_true",
                   help="write a torch.profiler Chrome trace per case under OUT/traces/")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--wide", action="store_true",
                   help="print the verdict with every setting as a column (wider than 100)")
    p.add_argument("--shard", metavar="I/N",
                   help="run shard I of N (whole comparison groups, balanced by cost); "
                        "merge the N results with `gembench merge`")
    p.add_argument("--executor", default="local", choices=list(EXECUTORS),
                   help="where cases run: local worker processes (default) or a Ray cluster, "
                        "one comparison group per task (pip install 'gembench[ray]')")
    p.add_argument("--address", help="--executor ray: the cluster (default: RAY_ADDRESS, a "
                                     "cluster running here, or a new local one)")
    p.add_argument("--accelerator-type", metavar="TYPE",
                   help="--executor ray: run CUDA cases on this GPU type (Ray "
                        "accelerator_type, e.g. H100)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("merge", help="merge results files (shards, machines) into one results "
                                     "set; timings of different machines are kept apart")
    p.add_argument("results", nargs="+", help="results files or run directories")
    p.add_argument("--out", required=True, metavar="DIR", help="writes DIR/results.jsonl")
    p.add_argument("--force", action="store_true",
                   help="merge runs of different suites, schema versions or commits")
    p.set_defaults(func=cmd_merge)

    p = sub.add_parser("accuracy", help="worst forward/backward error per backend and dtype, "
                                        "in dtype epsilons, over every activation")
    p.add_argument("backends", nargs="*", help="backends (default: all available)")
    p.set_defaults(func=cmd_accuracy)

    p = sub.add_parser("likeness", help="distance to ReLU (L1, L2, sup), dead-gradient share, "
                                        "f(0), f'(0) at the papers' parameters")
    p.add_argument("activations", nargs="*", help="activation names (default: all)")
    p.set_defaults(func=cmd_likeness)

    p = sub.add_parser("crosscheck", help="time ok hot cases with gembench and with "
                                          "torch.utils.benchmark, alternately, a fresh process "
                                          "per case (no RESULTS: a small suite)")
    p.add_argument("results", nargs="?", help="results file (default: a built-in small suite)")
    p.add_argument("--filter", metavar="EXPR", help="only cases matching (as for run)")
    p.add_argument("--min-run-time", type=float, default=0.3,
                   help="torch.utils.benchmark blocked_autorange min_run_time (s) per window")
    p.add_argument("--repeats", type=int, default=6,
                   help="windows of each method per case, alternating (ABBA)")
    p.set_defaults(func=lambda a: __import__("gembench.engine.crosscheck", fromlist=["main"]).main(
        a.results, a.filter, a.min_run_time, a.repeats))

    p = sub.add_parser("report", help="write a markdown report (and PNG plots) of results files")
    p.add_argument("results", nargs="+",
                   help="results files (results.jsonl) or run directories holding one")
    p.add_argument("--out", metavar="FILE.md",
                   help="report file (default reports/SUITE-RUNSTART.md); plots go beside it")
    p.add_argument("--html", metavar="FILE.html",
                   help="also (or, without --out, only) write one self-contained HTML page: "
                        "verdict, sortable tables, plots, history over several runs")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("export", help="export results to a benchmark dashboard's format")
    p.add_argument("results", nargs="+", help="results files or run directories")
    p.add_argument("--format", required=True,
                   help="github-action-benchmark (customSmallerIsBetter), bmf (Bencher Metric "
                        "Format) or pytest-benchmark (saved-run JSON)")
    p.add_argument("--out", metavar="FILE.json", help="output file (default: standard output)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("compare", help="compare two runs case by case; exit 1 on a regression")
    p.add_argument("base", help="BASE results file or run directory")
    p.add_argument("new", help="NEW results file or run directory")
    p.add_argument("--metric", default="anchor", choices=["anchor", "relu", "time"],
                   help="figure compared: per-round ratio to the anchor ReLU (default), to the "
                        "backend's ReLU, or raw time (carries the machine's drift)")
    p.add_argument("--threshold", default="5%",
                   help="smallest slowdown that can count as a regression (default 5%%)")
    p.add_argument("--alpha", type=float, default=0.05,
                   help="false-discovery rate across the cases (Benjamini-Hochberg; "
                        "default 0.05)")
    p.add_argument("--all", action="store_true", help="list every case, not only changes")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("ab", help="is NEW slower than BASE? both timed side by side, "
                                  "several runs; exit 1 when NEW is slower")
    p.add_argument("suite", help="suite YAML whose cases (on BASE) are compared")
    p.add_argument("--base", required=True, help="BASE implementation (backend name)")
    p.add_argument("--new", required=True, help="NEW implementation (backend name)")
    p.add_argument("--repeats", type=int, default=3, help="runs of the suite (default 3)")
    p.add_argument("--out", help="output directory (default results/SUITE-ab/TIMESTAMP)")
    p.add_argument("--filter", help="only the suite's cases matching, e.g. 'shape=1M'")
    p.add_argument("--quick", action="store_true", help="a tenth of the timing budget")
    p.add_argument("--device", choices=["cpu", "cuda", "auto"], help="override the devices")
    p.add_argument("--threshold", default="2%",
                   help="smallest slowdown that counts (default 2%%)")
    p.add_argument("--alpha", type=float, default=0.05,
                   help="false-discovery rate over the pairs (default 0.05)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_ab)
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
