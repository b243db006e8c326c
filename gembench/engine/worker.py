"""Worker process: measures the cases the runner sends, one JSON line in, one JSON line out.

Started by :mod:`gembench.engine.runner` with the environment a group of cases needs from process
start (allocator, thread count, Triton interpreter, compile caches). Protocol messages go to
the original stdout; anything a library prints is sent to stderr instead. The reply is an
:class:`gembench.results.records.Outcome` as JSON. The worker imports the engine only (no
suite/YAML layer).
"""

from __future__ import annotations

import json
import os
import sys

from gembench.engine.policy import Timing
from gembench.plan.cases import Case


def main() -> int:
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # stray prints (C or Python) go to stderr, not into the protocol
    sys.stdout = sys.stderr
    from gembench.engine.measure import measure_safely

    proto.write(json.dumps({"ready": True, "pid": os.getpid()}) + "\n")
    for line in sys.stdin:
        if not line.strip():
            continue
        msg = json.loads(line)
        case = Case.from_dict(msg["case"])
        out = measure_safely(case, Timing(**msg["timing"]), msg["seed"], msg.get("profile_dir"))
        proto.write(json.dumps(out.to_json(), default=float) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
