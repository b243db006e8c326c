"""The engine, in three floors: :mod:`.measuring` (clocks, rounds, passes, memory, busy),
:mod:`.contexts` (what is timed for a case) and :mod:`.running` (runner, executors, workers)."""
