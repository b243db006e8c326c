"""The plan: suite files (schema, loading), shape presets and the cases they expand into."""
