"""How one callable is measured: clocks and interleaved rounds (:mod:`.timing`), passes, cache
flushes, memory, busy-machine detection, anomaly flags and the run's environment."""
