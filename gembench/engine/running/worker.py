"""Worker process: measures the comparison groups the runner sends, one JSON line in, JSON
lines out.

Started by :mod:`gembench.engine.running.runner` with the environment a group of cases needs
from process start (allocator, thread count, Triton interpreter, compile caches).
A request is one group
(``{"group": [cases], "timings": [...], "seed": ..., "profile_dir": ..., "marker": path}``);
the replies are events as they happen: ``{"event": "built", "case_id": ...}`` per case built,
``{"event": "round", "round": r}`` per round of the group's timing (a heartbeat), ``{"event":
"outcome", "case_id": ..., "outcome": {...}}`` per case (an
:class:`gembench.results.records.Outcome`), then ``{"event": "done"}``. Protocol messages go to
the original stdout; anything a library prints is sent to stderr instead. While it runs, the
worker writes the callable it is timing to the ``marker`` file, so that the runner can name the
case behind a crash or hang. The worker imports the engine only (no suite/YAML layer).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from gembench.spec.cases import Case
from gembench.spec.policy import Timing


def main() -> int:
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # stray prints (C or Python) go to stderr, not into the protocol
    sys.stdout = sys.stderr
    from gembench.engine.running.group import measure_group

    def event(kind: str, **fields: Any) -> None:
        if "outcome" in fields:
            fields["outcome"] = fields["outcome"].to_json()
        proto.write(json.dumps({"event": kind, **fields}, default=float) + "\n")

    proto.write(json.dumps({"ready": True, "pid": os.getpid()}) + "\n")
    for line in sys.stdin:
        if not line.strip():
            continue
        msg = json.loads(line)
        cases = [Case.from_dict(c) for c in msg["group"]]
        timings = [Timing(**t) for t in msg["timings"]]
        measure_group(cases, timings, msg["seed"], event, msg.get("profile_dir"),
                      msg.get("marker"))
        event("done")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
