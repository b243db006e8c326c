"""The engine: timing policy and clocks, passes, contexts, memory, measure, workers, runner."""
