"""Drift tests of the table contracts (data_contracts/tables.py): what the stages write, what their fixtures
build and what the Dagster checks report all follow one declaration, and a producer or a file that breaks
it fails with the table, the column and what was expected."""

from __future__ import annotations

import dataclasses
import datetime as dt

import dagster as dg
import duckdb
import polars as pl
import pytest

import assets.contracts as C
from assets.cohort import defs as cohort_defs
from assets.contract_defs import check_name, column_schema, contract_check, output_metadata
from assets.contracts import (
    ContractError,
    contract_frame,
    contract_report,
    duplicate_keys,
    file_problems,
    schema_problems,
    write_frame,
    write_query,
)
from assets.resources import RegdmlResource
from data_contracts import tables as T
from data_contracts.codebook import load_codebook
from data_contracts.config import load_config

STAGES = ("cohort", "treatment", "outcomes", "covariates", "analysis")
DUCK = {"memory_limit": "256MB", "threads": 1}


def test_every_stage_output_keeps_its_contract(main_run):
    """Every table the register logic writes on the hand-built world matches its contract (columns, types,
    unique non-null key), and no stage writes a Parquet file that has no contract."""
    work, _ = main_run
    for t in (t for t in T.TABLES.values() if t.stage in STAGES):
        r = contract_report(t, work, {**DUCK, "temp_directory": str(work / "spill")})
        assert r["passed"], (t.name, r)
    written = {p.relative_to(work).as_posix() for s in STAGES for p in (work / s).glob("*.parquet")}
    declared = {t.path(work).relative_to(work).as_posix() for t in T.TABLES.values() if t.stage in STAGES}
    assert written == declared


def test_the_analysis_contract_agrees_with_the_column_dictionary(main_run):
    """The dictionary the analysis stage writes and the analysis table's contract give every column the same
    role (the contract's key is the dictionary's id) and type."""
    work, _ = main_run
    d = pl.read_parquet(T.COLUMN_DICTIONARY.path(work))
    for r in d.iter_rows(named=True):
        spec = T.ANALYSIS_TABLE.spec(r["name"])
        assert spec is not None, r["name"]
        assert T.DICTIONARY_ROLE.get(spec.role, spec.role) == r["role"], r["name"]
        assert spec.dtype == r["dtype"], r["name"]


def test_generated_columns_follow_their_pattern():
    """kommune_<code>, month_<YYYY_MM> and the outcome horizons are declared by patterns: a new code or
    horizon passes, a misspelt or mistyped one fails naming the pattern."""
    typed = {c.name: getattr(pl, c.dtype) for c in T.MEETING_COVARIATES.columns}
    assert (
        schema_problems(T.MEETING_COVARIATES, {**typed, "kommune_999": pl.Int8, "month_2031_12": pl.Int8})
        == []
    )
    assert schema_problems(T.MEETING_COVARIATES, {**typed, "kommune_x": pl.Int8}) == [
        "table meeting_covariates, column kommune_x: not declared (no column of the contract and no pattern "
        + ", ".join(p.pattern for p in T.COVARIATE_PATTERNS)
        + " matches)"
    ]
    assert schema_problems(T.MEETING_COVARIATES, {**typed, "kommune_101": pl.Int16}) == [
        r"table meeting_covariates, column kommune_101 (pattern kommune_\d+): expected type Int8, written Int16"
    ]
    # an optional column (the local labour market, left out by configuration) may be absent; a required one not
    no_local = {k: v for k, v in typed.items() if not k.startswith("local_")}
    assert schema_problems(T.MEETING_COVARIATES, no_local) == []
    assert schema_problems(T.MEETING_COVARIATES, {k: v for k, v in typed.items() if k != "age"}) == [
        "table meeting_covariates, column age: missing (expected type Int16, role covariate)"
    ]
    assert T.MEETING_OUTCOMES.role("y_exit_104w") == "outcome" and T.MEETING_OUTCOMES.role("y_exit_w") is None


def test_a_producer_that_breaks_its_contract_fails_naming_table_column_and_type(
    main_run, tmp_path, monkeypatch
):
    """The treatment stage writes digital as Int8; with a contract that says Int16 it fails before the file is
    put in place, naming the table, the column and both types."""
    work, _ = main_run
    bad = dataclasses.replace(
        T.ELIGIBLE_MEETINGS,
        columns=tuple(
            dataclasses.replace(c, dtype="Int16") if c.name == "digital" else c
            for c in T.ELIGIBLE_MEETINGS.columns
        ),
    )
    monkeypatch.setattr(T, "ELIGIBLE_MEETINGS", bad)
    from assets.treatment.logic import build_meetings

    st = work / "staging"
    with pytest.raises(ContractError) as e:
        build_meetings(
            st / "samtaler.parquet",
            st / "kontaktform_validering.parquet",
            T.BENEFIT_WEEKS.path(work),
            T.BENEFIT_SPELLS.path(work),
            st / "bef.parquet",
            tmp_path,
            load_config(),
            load_codebook(),
            {**DUCK, "temp_directory": str(tmp_path / "spill")},
        )
    assert "table eligible_meetings, column digital: expected type Int16, written Int8" in str(e.value)
    assert "treatment stage" in str(e.value)
    assert (tmp_path / "meetings.parquet").is_file() and not (tmp_path / "eligible_meetings.parquet").exists()


def test_a_failed_write_leaves_the_last_good_file(tmp_path):
    con = duckdb.connect()
    good = "SELECT CAST(1 AS INTEGER) AS step, 'r' AS rule, 'd' AS description, " + ", ".join(
        f"CAST(10 AS BIGINT) AS {c}"
        for c in ("units_before", "units_removed", "units_after", *T.SAMPLE_FLOW.disclosure.counts[3:])
    )
    path = write_query(T.SAMPLE_FLOW, con, good, tmp_path)
    before = path.read_bytes()
    with pytest.raises(
        ContractError, match=r"table sample_flow, column step: expected type Int32, written Int64"
    ):
        write_query(T.SAMPLE_FLOW, con, good.replace("CAST(1 AS INTEGER)", "CAST(1 AS BIGINT)"), tmp_path)
    with pytest.raises(ContractError, match=r"table sample_flow, column rule: missing"):
        write_frame(T.SAMPLE_FLOW, pl.read_parquet(path).drop("rule"), tmp_path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["sample_flow.parquet"]


def test_duplicate_and_null_keys_are_counted(tmp_path):
    """Rows beyond the first of a key (3 copies of one key = 2) and rows with a null key column, by hand."""
    f = contract_frame(
        T.DIGITAL_SHARE_BY_KOMMUNE_MONTH,
        {"kommune": [101, 101, 101, 101, 147, None], "calendar_month": ["2020-05"] * 3 + ["2020-06"] * 3},
    )
    f.write_parquet(tmp_path / "km.parquet")
    assert duplicate_keys(T.DIGITAL_SHARE_BY_KOMMUNE_MONTH, tmp_path / "km.parquet", DUCK) == {
        "n_duplicate_keys": 2,
        "n_null_keys": 1,
    }
    f.head(1).write_parquet(tmp_path / "one.parquet")
    assert duplicate_keys(T.DIGITAL_SHARE_BY_KOMMUNE_MONTH, tmp_path / "one.parquet", DUCK) == {
        "n_duplicate_keys": 0,
        "n_null_keys": 0,
    }


@pytest.mark.parametrize("bitstring", [True, False], ids=["bitstring", "group_by"])
def test_integer_keys_are_counted_alike_by_bitstring_and_by_group_by(tmp_path, monkeypatch, bitstring):
    """A key ending in an integer (a person's months; a meeting_id) is counted with a bitstring per group
    (memory per person, not per key: the plain GROUP BY ran out of memory at 5,000,000 persons); the count
    is the same as GROUP BY's, by hand: rows beyond the first of each key, null values grouped as one."""
    if not bitstring:
        monkeypatch.setattr(C, "BITSTRING_MAX_BITS_PER_GROUP", 0)
        monkeypatch.setattr(C, "BITSTRING_MAX_BITS", 0)
    months = contract_frame(
        T.EMPLOYMENT_MONTHS,
        {
            # (a, 1) three times: 2; (None, 3) twice: 1; (a, None) twice: 1; (b, 5), (b, 6), (c, None): 0
            "pnr": ["a", "a", "a", "b", "b", "c", None, None, "a", "a"],
            "month_index": [1, 1, 1, 5, 6, None, 3, 3, None, None],
        },
    )
    months.write_parquet(tmp_path / "m.parquet")
    assert duplicate_keys(T.EMPLOYMENT_MONTHS, tmp_path / "m.parquet", DUCK) == {
        "n_duplicate_keys": 4,
        "n_null_keys": 5,
    }
    # one meeting_id per row, but 2 twice, 3 three times and two nulls: 1 + 2 + 1
    meetings = contract_frame(T.ANALYSIS_TABLE, {"meeting_id": [1, 2, 2, 3, 3, 3, None, None]})
    meetings.write_parquet(tmp_path / "a.parquet")
    assert duplicate_keys(T.ANALYSIS_TABLE, tmp_path / "a.parquet", DUCK) == {
        "n_duplicate_keys": 4,
        "n_null_keys": 2,
    }
    meetings.head(3).write_parquet(tmp_path / "a3.parquet")  # no null: only the second 2
    assert duplicate_keys(T.ANALYSIS_TABLE, tmp_path / "a3.parquet", DUCK)["n_duplicate_keys"] == 1
    months.filter(pl.col("pnr") == "b").write_parquet(tmp_path / "b.parquet")
    assert duplicate_keys(T.EMPLOYMENT_MONTHS, tmp_path / "b.parquet", DUCK)["n_duplicate_keys"] == 0


def test_the_dagster_check_blocks_a_table_that_breaks_its_contract(tmp_path):
    """The factory's check of sample_flow on a file with a repeated step and an undeclared column: fails,
    blocking, with the problems and the count in its metadata (names only, no values)."""
    res = RegdmlResource(delivery_dir=str(tmp_path / "d"), workdir=str(tmp_path / "w"))
    flow = contract_frame(
        T.SAMPLE_FLOW,
        {
            "step": [1, 1],
            "rule": ["a", "b"],
            "units_before": [10, 9],
            "units_removed": [1, 0],
            "units_after": [9, 9],
        },
    )

    @dg.asset(name="sample_flow")
    def writer() -> None:
        write_frame(T.SAMPLE_FLOW, flow, res.paths().stage("treatment"))

    check = contract_check(T.SAMPLE_FLOW)
    r = dg.materialize([writer, check], resources={"regdml": res}, raise_on_error=False)
    (ev,) = r.get_asset_check_evaluations()
    assert ev.check_name == check_name(T.SAMPLE_FLOW) == "sample_flow_matches_contract"
    assert not ev.passed and ev.metadata["n_duplicate_keys"].value == 1
    assert next(iter(check.check_specs)).blocking
    # a column the contract does not know: reported by name, the key not counted
    flow.with_columns(pl.lit(1).alias("n_secret")).write_parquet(T.SAMPLE_FLOW.path(res.paths().work_dir))
    rep = contract_report(T.SAMPLE_FLOW, res.paths().work_dir, DUCK)
    assert not rep["passed"] and rep["problems"][0].startswith(
        "table sample_flow, column n_secret: not declared"
    )


def test_column_schema_and_output_metadata_come_from_the_contract(main_run):
    work, _ = main_run
    md = output_metadata(T.SAMPLE_FLOW, work)
    cols = {c.name: c for c in md["dagster/column_schema"].columns}
    assert md["dagster/row_count"] == pl.read_parquet(T.SAMPLE_FLOW.path(work)).height
    assert (
        cols["units_removed"].tags == {"role": "count", "unit": "meetings"} and cols["step"].type == "Int32"
    )
    s = column_schema(T.MEETING_COVARIATES, T.MEETING_COVARIATES.path(work), {"age": "from BEF"})
    by = {c.name: c for c in s.columns}
    assert by["age"].description == "from BEF" and by["kommune_101"].tags == {"role": "covariate"}


def test_contracts_are_consistent():
    """Keys, disclosure columns and pattern examples are declared; each table belongs to a register-logic
    asset; the benefit-weeks key is left to the stage check the contract names."""
    from pipelines.definitions import build_definitions

    graph = build_definitions(RegdmlResource(delivery_dir="/nonexistent")).resolve_asset_graph()
    asset_keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    check_names = {k.name for k in graph.asset_check_keys}
    for t in T.TABLES.values():
        assert t.asset_name in asset_keys, t.name
        for k in t.key:
            assert isinstance(t.spec(k), T.Column), (t.name, k)
        # a nullable key column (the modality's contrast) never stands alone
        assert not t.key or not t.spec(t.key[0]).nullable, t.name
        for p in t.patterns:
            assert p.matches(p.example) and t.spec(p.example) is p, (t.name, p.pattern)
        for c in t.columns:
            assert c.role in T.ROLES, (t.name, c.name)
        if t.disclosure is not None:
            d = t.disclosure
            assert all(t.role(c) == "count" for c in d.counts) and all(t.role(c) == "share" for c in d.shares)
            assert all(t.spec(c) is not None for c in (*d.by, *(x for tr in d.differences for x in tr)))
    assert T.BENEFIT_WEEKS.key_checked_by == cohort_defs.CHECK_BENEFIT_WEEKS_UNIQUE
    assert {check_name(t) for t in T.TABLES.values()} <= check_names


def test_fixture_frames_follow_the_contract(tmp_path):
    """contract_frame types given columns as declared, fills the other required ones with nulls, and refuses an
    undeclared column: a fixture built with it is what the stage writes."""
    f = contract_frame(T.COVARIATE_PROVENANCE, {"meeting_id": [1], "week_start": [dt.date(2020, 9, 7)]})
    assert file_problems(T.COVARIATE_PROVENANCE, _write(f, tmp_path / "p.parquet")) == []
    assert f.schema["udda_reference_date"] == pl.Date and f["udda_reference_date"].null_count() == 1
    with pytest.raises(ContractError, match="table covariate_provenance, column week_begin: not declared"):
        contract_frame(T.COVARIATE_PROVENANCE, {"week_begin": [dt.date(2020, 9, 7)]})


def _write(frame: pl.DataFrame, path):
    frame.write_parquet(path)
    return path


def test_what_the_report_reads_is_declared_by_the_contracts():
    """Every input the report reads (assets/report/render/inputs.py) is a stage output with a contract: its
    file is the contract's, every column it reads is declared there, and it requires exactly the columns the
    contract requires (less those it tolerates missing in old run folders). A renamed column fails here (and
    at import), not as an empty report section."""
    from assets.report.render.inputs import COLUMN_DICTIONARY_INPUT, REPORT_INPUTS, from_contract

    by_file = {f"{t.stage}/{t.file}": t for t in T.TABLES.values()}
    for i in (*REPORT_INPUTS, COLUMN_DICTIONARY_INPUT):
        assert i.file in by_file, i.key
        t = by_file[i.file]
        undeclared = [c for c in i.columns if t.spec(c) is None]
        assert not undeclared, (i.key, t.name, undeclared)
        assert all(t.spec(c).required for c in i.required), i.key
    assert {i.file for i in REPORT_INPUTS} >= {f"estimation/{t.file}" for t in T.ESTIMATION_TABLES}
    with pytest.raises(
        ValueError, match=r"column\(s\) \['n_secret'\] are not declared by the contract of sample_flow"
    ):
        from_contract("sample_flow", T.SAMPLE_FLOW, ("rule", "n_secret"))
    flow = from_contract("sample_flow", T.SAMPLE_FLOW, ("rule", "units_before"), tolerate=("units_before",))
    assert flow.required == ("rule",) and flow.optional == ("units_before",)


def test_a_nullable_key_column_groups_its_nulls_and_an_optional_file_may_be_absent(tmp_path):
    """estimates' key is (outcome, design, contrast), contrast null for the binary designs: two binary rows
    of one cell are one duplicate, a modality cell's three contrasts none, and a null contrast is no null
    key. A table written for some configurations only (potential outcomes) passes its check when absent,
    the estimates (always written) do not."""
    rows = {
        "outcome": ["y", "y", "y", "y", "y", None],
        "design": ["irm_att", "irm_att", "modality", "modality", "modality", "plr"],
        "contrast": [None, None, "a_vs_b", "a_vs_c", "b_vs_c", None],
    }
    contract_frame(T.ESTIMATES, rows).write_parquet(tmp_path / "e.parquet")
    assert duplicate_keys(T.ESTIMATES, tmp_path / "e.parquet", DUCK) == {
        "n_duplicate_keys": 1,
        "n_null_keys": 1,
    }
    # the group effects' contrast exists with the modality design only: without it the key is the rest
    ge = contract_frame(T.GROUP_EFFECTS, {"outcome": ["y", "y"], "design": ["plr"] * 2, "group_var": ["sex"] * 2,
                                          "group": ["woman", "man"]})  # fmt: skip
    assert "contrast" not in ge.columns and schema_problems(T.GROUP_EFFECTS, ge.schema) == []
    ge.write_parquet(tmp_path / "g.parquet")
    assert duplicate_keys(T.GROUP_EFFECTS, tmp_path / "g.parquet", DUCK)["n_duplicate_keys"] == 0
    assert contract_report(T.POTENTIAL_OUTCOMES, tmp_path, DUCK)["passed"]
    assert not contract_report(T.ESTIMATES, tmp_path, DUCK)["passed"]


def test_the_blocking_checks_pass_on_the_main_world(main_run):
    """The main world run through the assets (tests/register_logic/stages.py) ran every register-logic
    output's contract check and every stage check, and all passed."""
    _, run = main_run
    contracts = {check_name(t) for t in T.TABLES.values() if t.stage in STAGES}
    assert contracts <= set(run.checks) and len(run.checks) > len(contracts)
    assert all(run.checks.values()), {k: v for k, v in run.checks.items() if not v}
