"""A plugin that registers a class which is not a gembench Kernel (tests/test_plugins.py)."""

import gembench


@gembench.register_implementation(name="wrong_class", activations=["gem"])
class NotAKernel:
    pass
