"""``regdml value`` and the run summary's value headline."""

from types import SimpleNamespace

import polars as pl
import pytest

from models import value as V
from pipelines.cli import main


def test_value_command_prints_the_table_for_one_group(capsys, tmp_path):
    cfg = tmp_path / "run.yaml"
    cfg.write_text(
        "value:\n  staff_minutes_saved: 20\n  staff_cost_per_hour_dkk: 450\n"
        "  weekly_benefit_dkk: {dagpenge: 4000, kontanthjaelp_jobparat: 2500}\n"
        "  annual_jobsamtaler: {dagpenge: 600000, kontanthjaelp_jobparat: 200000}\n"
    )
    assert main(["value", "--effect", "-0.1", "--ci-low", "-0.3", "--ci-high", "0.1", "--config", str(cfg),
                 "--group", "dagpenge", "--csv"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    t = pl.read_csv(out.encode())
    assert t.columns == list(V.VALUE_COLUMNS) and t.height == 1
    r = t.row(0, named=True)
    # the hand-worked dagpenge row of tests/models/test_value.py
    assert r["benefit_group"] == "dagpenge"
    assert (r["staff_saving_dkk"], r["net_dkk"], r["net_dkk_ci_low"], r["net_dkk_ci_high"]) == pytest.approx(
        (150.0, -250.0, -1050.0, 550.0)
    )
    assert (r["break_even_weeks"], r["national_net_dkk"]) == pytest.approx((-0.0375, -150e6))
    # default group: all, at the count-weighted weekly benefit
    assert (
        main(["value", "--effect", "-0.05", "--ci-low", "-0.2", "--ci-high", "0.1", "--config", str(cfg)])
        == 0
    )
    out = capsys.readouterr().out
    assert "│ weekly_benefit_dkk       ┆ 3 625" in out and "│ net_dkk                  ┆ -31.25" in out
    assert "Digital pays off unless it lowers self-support by more than 0.041 weeks" in out
    assert "assumption" in out


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--effect", "0.5", "--ci-low", "-0.1", "--ci-high", "0.1"], "--ci-low <= --effect <= --ci-high"),
        (["--effect", "nan", "--ci-low", "-0.1", "--ci-high", "0.1"], "--effect nan"),
        (
            ["--effect", "0", "--ci-low", "-0.1", "--ci-high", "0.1", "--group", "sygedagpenge"],
            "--group must be",
        ),
    ],
)
def test_value_command_refuses_wrong_input_naming_it(capsys, argv, needle):
    assert main(["value", *argv]) == 2
    assert needle in capsys.readouterr().err


def test_value_command_refuses_a_wrong_configuration_naming_the_key(capsys, tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("value:\n  weekly_benefit_dkk: {dagpenge: -4000}\n")
    assert main(["value", "--effect", "0", "--ci-low", "-1", "--ci-high", "1", "--config", str(cfg)]) == 2
    assert "value.weekly_benefit_dkk" in capsys.readouterr().err


def test_run_summary_prints_the_value_headline(tmp_path, capsys):
    from pipelines.summary import print_run_summary
    from tests.report.fixtures import write_fake_run

    # the report fixture's placebos carry no design column, which the summary's placebo table needs
    work = write_fake_run(tmp_path / "runs" / "d", skip=("estimation/placebos.parquet",))
    print_run_summary(SimpleNamespace(work_dir=work), min_cell=5)
    out = capsys.readouterr().out
    assert "== What a digital meeting is worth" in out
    assert "Digital pays off unless it lowers self-support by more than 0.024 weeks per meeting" in out
    assert "nationally" in out
    # an effect resting on fewer meetings than the minimum is not printed
    ge = pl.read_parquet(work / "estimation" / "group_effects.parquet").with_columns(
        pl.when(pl.col("group") == "dagpenge").then(3).otherwise(pl.col("n")).alias("n")
    )
    ge.write_parquet(work / "estimation" / "group_effects.parquet")
    print_run_summary(SimpleNamespace(work_dir=work), min_cell=5)
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if "│ dagpenge " in x)
    assert "null" in line and "-0.400" not in line
