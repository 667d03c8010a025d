"""Treatment stage of the register logic (pure functions in logic.py, Dagster wrappers in defs.py)."""
