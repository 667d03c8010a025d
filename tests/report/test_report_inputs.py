"""The report's inputs: declared once (assets/report/render/inputs.py), written so by the producers and by
the test fixture, and a configured section without an approved table makes the report incomplete."""

import polars as pl

from assets.report.render import REPORT_INPUTS, build_report, load_inputs
from assets.report.render.sections import SECTIONS
from assets.treatment.logic import digital_share_tables
from data_contracts.config import load_config
from tests.report.fixtures import fake_tables, write_fake_run

MODALITY_FILES = ("estimation/potential_outcomes.parquet", "estimation/overlap_by_arm.parquet")


def test_the_fixture_writes_every_declared_input_with_its_columns():
    tables = fake_tables()
    for spec in REPORT_INPUTS:
        assert spec.file in tables, f"the fixture does not write {spec.file}"
        missing = set(spec.required) - set(tables[spec.file].columns)
        assert not missing, (spec.file, sorted(missing))
    declared = {s.file for s in REPORT_INPUTS} | {"raw/delivery_manifest.parquet"}
    assert set(tables) == declared, sorted(set(tables) - declared)


def test_the_fixture_follows_the_contracts():
    """The fixture's tables have the schema the producers' contracts enforce (data_contracts/tables.py):
    names and types, so a report test cannot pass on a table the pipeline would refuse to write."""
    from assets.contracts import schema_problems
    from data_contracts.tables import TABLES

    by_file = {f"{t.stage}/{t.file}": t for t in TABLES.values()}
    tables = fake_tables()
    for spec in REPORT_INPUTS:
        assert schema_problems(by_file[spec.file], tables[spec.file].schema) == [], spec.file


def test_the_estimation_stage_writes_every_declared_estimates_column():
    from assets.estimation.logic import ESTIMATE_COLUMNS

    spec = next(s for s in REPORT_INPUTS if s.key == "estimates")
    assert set(spec.columns) <= set(ESTIMATE_COLUMNS), sorted(set(spec.columns) - set(ESTIMATE_COLUMNS))


def test_the_share_producer_writes_the_declared_columns(tmp_path):
    # assets/treatment/logic.py's digital-share tables from a four-meeting eligible table
    eligible = pl.DataFrame(
        {
            "kommune": pl.Series([101, 101, 147, 147], dtype=pl.Int32),
            "calendar_month": ["2020-05", "2020-06", "2020-05", "2020-05"],
            "digital": pl.Series([1, 0, 1, 1], dtype=pl.Int8),
            "meeting_form": ["telephone", "in_person", "video", None],
        }
    )
    eligible.write_parquet(tmp_path / "eligible_meetings.parquet")
    by_month, by_km = digital_share_tables(tmp_path / "eligible_meetings.parquet", {"threads": 1})
    spec = {s.key: s for s in REPORT_INPUTS}
    for key, frame in (("share_month", by_month), ("share_municipality", by_km)):
        assert set(spec[key].columns) <= set(frame.columns), (
            key,
            sorted(set(spec[key].columns) - set(frame.columns)),
        )
    # and the report reads them (no alias, no guess): May has 3 meetings, 2 of them by phone or video
    inp = load_inputs(_run_with(tmp_path / "run", {"analysis/digital_share_by_month.parquet": by_month,
                                                 "analysis/digital_share_by_kommune_month.parquet": by_km}))  # fmt: skip
    assert inp.share_month.filter(pl.col("calendar_month") == "2020-05")["n_meetings"].to_list() == [3]


def _run_with(work, frames):
    write_fake_run(work)
    for rel, df in frames.items():
        df.write_parquet(work / rel)
    return work


def test_every_section_of_the_fixture_run_has_an_approved_table(tmp_path):
    cfg = load_config()
    rep = build_report(load_inputs(write_fake_run(tmp_path / "runs" / "d")), cfg, draw_figures=False)
    assert rep.incomplete == {}
    assert {s.id for s in SECTIONS if s.configured(cfg)} == {s.id for s in SECTIONS}


def test_a_section_is_incomplete_only_when_configured(tmp_path):
    work = write_fake_run(tmp_path / "runs" / "d", skip=MODALITY_FILES)
    est = pl.read_parquet(work / "estimation" / "estimates.parquet")
    est.filter(pl.col("design") != "modality").write_parquet(work / "estimation" / "estimates.parquet")
    cfg = load_config()
    rep = build_report(load_inputs(work), cfg, draw_figures=False)
    # forms_by_month still comes from the digital shares: an approved table, so the section is shown
    assert rep.incomplete == {}
    pl.read_parquet(work / "analysis" / "digital_share_by_month.parquet").with_columns(
        pl.lit(None, dtype=pl.Int64).alias("n_telephone")
    ).write_parquet(work / "analysis" / "digital_share_by_month.parquet")
    rep = build_report(load_inputs(work), cfg, draw_figures=False)
    assert set(rep.incomplete) == {"modality"}
    for f in MODALITY_FILES:
        assert f"{f} not found" in rep.incomplete["modality"]
    designs = [d for d in cfg.estimation.designs if d != "modality"]
    rep = build_report(
        load_inputs(work), load_config(overrides={"estimation": {"designs": designs}}), draw_figures=False
    )
    assert rep.incomplete == {}
    # the section is still shown, saying what is missing
    assert "No data: the table 'modality_contrasts' was not produced by this run." in rep.html


def test_a_section_whose_table_is_rejected_is_incomplete(tmp_path):
    work = write_fake_run(tmp_path / "runs" / "d")
    est = pl.read_parquet(work / "estimation" / "estimates.parquet")
    est.with_columns(pl.lit("many").alias("n")).write_parquet(work / "estimation" / "estimates.parquet")
    rep = build_report(load_inputs(work), load_config(), draw_figures=False)
    assert "estimates" in rep.incomplete
    assert "table 'estimates' not exported: could not be prepared" in rep.incomplete["estimates"]
    assert "Main estimates" in rep.incomplete["estimates"]
