"""What to measure, below the plan: a case's identity (:mod:`.cases`), the timing policy
(:mod:`.policy`), the registry of measurement contexts (:mod:`.contexts`) and the named shapes
(:mod:`.presets`, :mod:`.model_presets`). Plain data; nothing here imports torch."""
