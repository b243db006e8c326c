"""Stands in for a machine without Ray: importing it fails as a missing package would."""

raise ImportError("No module named 'ray' (test double)")
