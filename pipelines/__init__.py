"""The Dagster code location of regdml: definitions, jobs, sensors, schedules, CLI.

The resource and the partitions live in ``assets`` (``assets/resources.py``, ``assets/partitions.py``):
``pipelines`` imports ``assets``, never the reverse.

Importing this package does no work (safe under Windows' spawn start method).
"""
