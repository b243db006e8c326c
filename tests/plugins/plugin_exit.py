"""A plugin that ends the process at import, with the code in GEMBENCH_TEST_EXIT (default 3)."""

import os
import sys

sys.exit(int(os.environ.get("GEMBENCH_TEST_EXIT", "3")))
