"""A plugin whose import never finishes (bounded by GEMBENCH_PLUGIN_TIMEOUT_S)."""

import time

while True:
    time.sleep(0.05)
