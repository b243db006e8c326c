"""A plugin that prints to stdout at import and at every call; otherwise a correct GEM."""

import torch

import gembench

print("plugin_prints: hello from the import")


@gembench.register_implementation(name="chatty_gem", activations=["gem"], dtypes=["float32"])
def chatty_gem(x: torch.Tensor, N: int = 1) -> torch.Tensor:
    print("chatty_gem called")
    r = torch.relu(x)
    u = r.pow(2 * N)
    return r * u / (1 + u)
