"""The run summary prints the estimates table through the disclosure gate: a small count never reaches the
screen (a screenshot of the terminal is a transfer out of DST)."""

from __future__ import annotations

import polars as pl

from assets.resources import RunPaths
from pipelines.summary import print_run_summary


def _estimates(tmp_path, rows):
    est = tmp_path / "work" / "estimation"
    est.mkdir(parents=True)
    base = {"estimate": 0.01, "se": 0.02, "ci_low": -0.03, "ci_high": 0.05, "p_value": 0.6, "n_missing_outcome": 0,
            "rep_spread": 0.001}  # fmt: skip
    pl.DataFrame([{**base, **r} for r in rows]).write_parquet(est / "estimates.parquet")
    return RunPaths(delivery_dir=tmp_path, work_dir=tmp_path / "work")


def _printed_estimates(capsys) -> list[str]:
    out = capsys.readouterr().out
    part = out.split("Estimates (effect of a digital rather than in-person jobsamtale)", 1)[1]
    return [line for line in part.splitlines() if "y_exit_13w" in line]


def _summary_line(tmp_path, capsys, **counts) -> str:
    """The printed estimates row of one y_exit_13w x irm_att cell with these counts."""
    paths = _estimates(tmp_path, [{"outcome": "y_exit_13w", "design": "irm_att", **counts}])
    print_run_summary(paths, min_cell=5)
    (line,) = _printed_estimates(capsys)
    return line


def test_a_small_trimmed_count_is_not_printed(tmp_path, capsys):
    line = _summary_line(tmp_path, capsys, n=1000, n_treated=700, n_trimmed=3)
    # n = 1000 and n_trimmed = 3 (suppressed), with a second count of the row margin suppressed beside it
    assert " 3 " not in f" {line} ".replace("│", " ").replace("|", " ")
    assert "1000" not in line  # n is the complement: 1000 = kept + trimmed would give the 3 away


def test_a_large_trimmed_count_is_printed(tmp_path, capsys):
    line = _summary_line(tmp_path, capsys, n=1000, n_treated=700, n_trimmed=40)
    assert "40" in line and "1000" in line and "700" in line


def test_a_small_arm_hides_the_estimate(tmp_path, capsys):
    line = _summary_line(tmp_path, capsys, n=1000, n_treated=2, n_trimmed=40)
    assert "0.01" not in line  # the estimate rests on 2 treated meetings: not shown
