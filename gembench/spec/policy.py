"""The timing policy: how long and how often a case is timed (read by the engine, set by suites)."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Timing:
    """Repeat policy: samples until ``budget_s`` or ``target_precision`` (IQR/median) is met,
    never fewer than ``min_samples``; ``timeout_s`` bounds a whole case."""

    budget_s: float = 1.0
    min_samples: int = 10
    max_samples: int = 10_000
    warmup: int = 3
    target_precision: float = 0.01
    min_sample_time_s: float = 5e-3  # a hot sample: a block of calls at least this long
    hot_warmup_s: float = 0.02  # hot: untimed calls of the same callable before each sample
    timeout_s: float = 600.0
    error_elements: int = 1 << 20
    cuda_graphs: bool = False  # CUDA: replay each timed callable from a captured CUDA graph
    retry_busy: int = 1  # re-time a group measured busy (transient load) up to this often
    busy_threshold_cores: float = 0.5  # other processes' CPU use that marks the machine busy

    def quick(self) -> Timing:
        """The ``--quick`` policy: a tenth of the budget, 5 samples minimum, shorter hot blocks
        (figures for a smoke test, not for a report)."""
        return replace(self, budget_s=self.budget_s / 10, min_samples=5, warmup=1,
                       min_sample_time_s=min(self.min_sample_time_s, 1e-3),
                       hot_warmup_s=min(self.hot_warmup_s, 5e-3),
                       error_elements=min(self.error_elements, 1 << 16))
