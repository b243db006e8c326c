"""The suites shipped inside the package (``gembench/suites/NAME.yaml``), run by name."""

from __future__ import annotations

from pathlib import Path

import yaml

#: where the built-in suites live; the clone's ``suites/`` is a link to it.
BUILTIN_DIR = Path(__file__).resolve().parent.parent / "suites"


def builtin_suites() -> dict[str, Path]:
    """Name -> file of every built-in suite, sorted by name."""
    return {p.stem: p for p in sorted(BUILTIN_DIR.glob("*.yaml"))}


def descriptions() -> dict[str, str]:
    """Name -> the one-line ``description`` of every built-in suite ("-" where it has none)."""
    out = {}
    for name, path in builtin_suites().items():
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            out[name] = f"unreadable: {type(exc).__name__}"
            continue
        text = data.get("description", "") if isinstance(data, dict) else ""
        out[name] = " ".join(str(text).split()) or "-"
    return out
