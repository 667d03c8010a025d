"""Analysis table, column dictionary, summaries and the configuration in force."""

from __future__ import annotations

import datetime as dt

import polars as pl
import yaml

from assets.analysis.logic import ROLES
from assets.analysis.summaries import SUPPRESSED, safe_outcome_means, safe_sample_flow, safe_share
from assets.contracts import contract_frame
from data_contracts import tables as T
from tests.register_logic.stages import run_stages


def test_table_and_dictionary(main_run, analysis):
    work, res = main_run
    cd = pl.read_parquet(work / "analysis" / "column_dictionary.parquet")
    assert cd.columns == ["name", "role", "dtype", "definition", "source_registers", "time_window"]
    assert analysis.columns == cd["name"].to_list()
    assert set(cd["role"]) <= set(ROLES)
    roles = dict(zip(cd["name"], cd["role"], strict=False))
    for c in [
        "pnr",
        "meeting_date",
        "meeting_week",
        "meeting_week_index",
        "kommune",
        "benefit_group",
        "digital",
        "kontaktform",
        "elapsed_weeks",
        "spell_id",
        "first_in_spell",
        "calendar_month",
    ]:
        assert c in roles, c
    assert roles["digital"] == "treatment" and roles["first_in_spell"] == "flag" and roles["pnr"] == "id"
    assert roles["y_exit_13w"] == "outcome" and roles["weeks_selfsupport_pre52w"] == "outcome"
    assert roles["age"] == "covariate" and roles["local_benefit_share"] == "covariate"
    assert (cd["definition"].str.len_chars() > 10).all() and cd["time_window"].null_count() == 0
    # PNRs keep leading zeros and stay strings
    assert analysis.schema["pnr"] == pl.String and "0000001" in analysis["pnr"].to_list()
    # the configuration in force is written beside the table
    cfgd = yaml.safe_load((work / "analysis" / "run_config.yaml").read_text())
    assert cfgd["outcomes"]["exit_horizons"] == [4, 13, 26, 52]


def test_summaries(main_run):
    work, _ = main_run
    by_month = pl.read_parquet(work / "analysis" / "digital_share_by_month.parquet")
    # 9 eligible meetings: May (F), June (B), Aug (C), Sep (G x3: 1 digital), Nov (E, digital), Dec (A, digital), Feb (D)
    got = {r["calendar_month"]: (r["n_meetings"], r["n_digital"]) for r in by_month.iter_rows(named=True)}
    assert got == {
        "2020-05": (1, 0),
        "2020-06": (1, 0),
        "2020-08": (1, 1),
        "2020-09": (3, 1),
        "2020-11": (1, 1),
        "2020-12": (1, 1),
        "2021-02": (1, 0),
    }
    km = pl.read_parquet(work / "analysis" / "digital_share_by_kommune_month.parquet")
    assert km["n_meetings"].sum() == 9 and set(km["kommune"]) == {101}
    means = pl.read_parquet(work / "analysis" / "outcome_means.parquet")
    row = means.filter(pl.col("outcome") == "y_exit_52w").row(0, named=True)
    # y_exit_52w: A 1, C 1, D null, E null, F 0, G(W37) 0, G(W39) null x2, B 1 -> 5 non-missing, mean 3/5
    assert (row["n_nonmissing"], row["n_missing"]) == (5, 4) and abs(row["mean"] - 0.6) < 1e-9


def test_disclosure_helpers():
    # fixtures from the contracts: the aggregates as the stages write them (form columns null where absent)
    flow = contract_frame(
        T.SAMPLE_FLOW,
        {
            "step": [1],
            "rule": ["r"],
            "description": ["d"],
            "units_before": [100],
            "units_removed": [3],
            "units_after": [97],
        },
    )
    # a small removal that cannot be merged: removal and the count after it are both suppressed (100 - 97
    # would give the 3 away)
    one = safe_sample_flow(flow, 5)[0]
    assert one["units_before"] == 100 and one["units_removed"] == one["units_after"] == SUPPRESSED
    two = contract_frame(
        T.SAMPLE_FLOW,
        {
            "step": [1, 2],
            "rule": ["r", "s"],
            "description": ["d", "e"],
            "units_before": [100, 97],
            "units_removed": [3, 20],
            "units_after": [97, 77],
        },
    )
    # merged with the next rule, as the export gate does: no cell of the metadata reveals the 3
    assert safe_sample_flow(two, 5) == [
        {"step": 1, "rule": "r + s", "description": "d; e", "units_before": 100, "units_removed": 23,
         "units_after": 77}
    ]  # fmt: skip
    share = contract_frame(
        T.DIGITAL_SHARE_BY_MONTH,
        {
            "calendar_month": ["2020-05", "2020-06"],
            "n_meetings": [50, 50],
            "n_digital": [48, 20],
            "digital_share": [0.96, 0.4],
        },
    )
    s = safe_share(share, ["calendar_month"], 5)
    # 2 in-person meetings: suppressed; as in the report, the in-person column's total then takes June's 30
    # with them, and its digital share
    assert s[0]["digital_share"] == SUPPRESSED and s[1]["digital_share"] == SUPPRESSED
    assert s[0]["n_meetings"] == s[1]["n_meetings"] == 50
    means = contract_frame(
        T.OUTCOME_MEANS,
        # 3 exits in all: 2 of 60 digital meetings, 1 of 40 others
        {"outcome": ["y_exit_4w"], "n_nonmissing": [100], "n_missing": [2], "mean": [0.03],
         "n_digital_1": [60], "mean_digital_1": [2 / 60], "n_digital_0": [40], "mean_digital_0": [1 / 40]},
    )  # fmt: skip
    m = safe_outcome_means(means, {"y_exit_4w"}, 5)[0]
    assert m["mean"] == SUPPRESSED and m["n_missing"] == SUPPRESSED  # 3 exits and 2 missing are small cells
    assert m["mean_digital_1"] == m["mean_digital_0"] == SUPPRESSED  # 2 and 1 exits


def test_no_eligible_meetings(rl, tmp_path, duck, codebook, cfg):
    w = rl.World("2020-W01", "2021-W10")
    w.confirm(101, ["2020-06"])
    w.person("0000001").code("0000001", "2020-W20", "2020-W30", "111")
    w.meeting("0000001", dt.date(2020, 6, 3), "B")  # a letter: not eligible
    w.write(tmp_path)
    res = run_stages(tmp_path)
    a = res.read("analysis_table")
    assert a.height == 0 and a.columns == res.read("column_dictionary")["name"].to_list()
    assert res.read("sample_flow")["units_after"].to_list()[-1] == 0


def test_empty_registers_give_indicators_not_nulls(rl, tmp_path, duck, codebook, cfg):
    # No UDDA, IND, AKM or A-kasse file rows at all: every covariate still non-null, with explicit indicators.
    w = rl.World("2019-W01", "2021-W10")
    w.confirm(101, ["2020-06"])
    w.person("0000001").code("0000001", "2020-W20", "2020-W30", "111")
    w.meeting("0000001", dt.date(2020, 6, 3), "P")
    w.write(tmp_path)
    res = run_stages(tmp_path)
    a = res.read("analysis_table")
    cov = res.read("column_dictionary").filter(pl.col("role") == "covariate")["name"].to_list()
    assert a.height == 1 and a.select(pl.col(cov).null_count()).sum_horizontal().item() == 0
    r = a.row(0, named=True)
    assert (
        r["akasse_unknown"],
        r["akasse_member"],
        r["education_missing"],
        r["income_missing"],
        r["socio_missing"],
    ) == (1, 0, 1, 1, 1)
