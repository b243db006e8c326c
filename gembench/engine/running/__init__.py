"""Running a suite: the runner, the executors (local worker processes, Ray), the worker's loop
and the measurement of one comparison group inside it."""
