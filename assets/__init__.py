"""Thin Dagster assets by stage, each beside the pure functions it wraps.

Stages: raw, staging, cohort, treatment, outcomes, covariates, analysis, estimation, report.
"""
