"""``run``: a suite's cases measured, its results written, its verdict printed."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gembench.cli.common import UserError, default_out
from gembench.engine.running.executors import EXECUTORS

if TYPE_CHECKING:
    from gembench.plan.suite import Suite


def announce(suite: Suite, filter_expr: str | None, shard: str | None) -> str:
    """``suite smoke (462 cases)``; with ``--filter`` ``suite smoke: 4 of 462 cases (filter
    EXPR)``, the number that will run (a bad filter is refused by the run itself)."""
    from gembench.engine.running.runner import RunError, matches

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
    from gembench.engine.running.executors import ExecutorError, executor
    from gembench.engine.running.runner import RunError, run_suite
    from gembench.plan.shard import ShardError, parse_shard
    from gembench.plan.suite import SuiteError, load_suite
    from gembench.report.output import ReportOutputError
    from gembench.report.summary import print_summary
    from gembench.results import ResultsError, read

    try:
        shard = parse_shard(args.shard) if args.shard is not None else None
        runner = executor(args.executor, address=args.address,
                          accelerator_type=args.accelerator_type)
        suite = load_suite(args.suite, quick=args.quick, device=args.device)
    except (SuiteError, ShardError, ExecutorError) as exc:
        raise UserError(str(exc)) from None
    out = Path(args.out) if args.out else default_out(suite.name, args.resume)
    print(f"gembench: {announce(suite, args.filter, args.shard)} -> {out}/results.jsonl",
          file=sys.stderr)
    try:
        results = run_suite(suite, out, resume=args.resume, filter_expr=args.filter,
                            progress=not args.no_progress, allocator=args.allocator,
                            profile=args.profile, shard=shard, executor=runner)
        if shard and not read(results, problems=[]).cases:
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


def add_parsers(sub: Any) -> None:
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
