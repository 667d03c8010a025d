"""The Dagster code location of regdml: definitions, resources, partitions, sensors, schedules, CLI.

Importing this package does no work (safe under Windows' spawn start method).
"""
