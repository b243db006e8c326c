"""Named shapes a suite may use instead of explicit lists."""

from __future__ import annotations

#: elementwise tensor shapes by name (element counts are powers of two).
ELEMENTWISE: dict[str, tuple[int, ...]] = {
    "1K": (1024,),
    "64K": (256, 256),
    "1M": (1024, 1024),
    "4M": (2048, 2048),
    "16M": (4096, 4096),
    "64M": (8192, 8192),
}


def sweep(lo_exp: int, hi_exp: int) -> list[tuple[int, ...]]:
    """1-D shapes 2^lo_exp ... 2^hi_exp elements."""
    return [(2**e,) for e in range(lo_exp, hi_exp + 1)]
