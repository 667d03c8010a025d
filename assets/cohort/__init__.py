"""Cohort stage: long DREAM (benefit weeks, employment months) and benefit spells."""
