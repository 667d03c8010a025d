"""The Dagster wrappers: report and export_bundle materialize from fake upstream outputs; the blocking scan
check passes; a planted PNR makes export_bundle fail and keeps the last good bundle."""

import dagster as dg
import pytest

from assets.report.defs import ASSETS, CHECKS, SCAN_CHECK, SECTIONS_CHECK
from assets.resources import RegdmlResource
from tests.report.fixtures import write_fake_run, write_fake_truth


@pytest.fixture()
def setup(tmp_path, monkeypatch):
    delivery = tmp_path / "deliveries" / "synthetic"
    delivery.mkdir(parents=True)
    work = write_fake_run(tmp_path / "work" / "runs" / "synthetic")
    truth = write_fake_truth(tmp_path / "truth.json")
    monkeypatch.setenv("REGDML_TRUTH", str(truth))
    res = RegdmlResource(delivery_dir=str(delivery), workdir=str(tmp_path / "work"))
    return res, work, delivery


def test_assets_declared_as_agreed():
    keys = {k.to_user_string() for a in ASSETS for k in a.keys}
    assert keys == {"report", "export_bundle"}
    report = next(a for a in ASSETS if dg.AssetKey("report") in a.keys)
    deps = {d.to_user_string() for d in report.asset_deps[dg.AssetKey("report")]}
    assert {"estimates", "sample_flow"} <= deps
    assert report.group_names_by_key[dg.AssetKey("report")] == "report"


def test_materialize_report_and_bundle(setup, materialize_delivery):
    res, work, delivery = setup
    instance = dg.DagsterInstance.ephemeral()  # held: the result refers to it weakly
    result = materialize_delivery(ASSETS + CHECKS, delivery, instance, resources={"regdml": res})
    assert result.success
    evals = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert evals == {SECTIONS_CHECK: True, SCAN_CHECK: True, "bundle_manifest_matches": True}
    mats = {
        m.asset_key.to_user_string(): m.materialization.metadata
        for m in result.get_asset_materialization_events()
    }
    assert mats["report"]["synthetic"].value is True
    assert mats["report"]["suppressed_cells"].value > 0
    assert mats["export_bundle"]["suppressed_cells"].value == mats["report"]["suppressed_cells"].value
    assert (work / "report" / "report.html").is_file()
    assert (work / "report" / "export_bundle" / "MANIFEST.txt").is_file()
    assert "SYNTHETIC DATA" in (work / "report" / "report.html").read_text(encoding="utf-8")


def test_planted_pnr_fails_export_and_keeps_last_good_bundle(setup, materialize_delivery):
    res, work, delivery = setup
    instance = dg.DagsterInstance.ephemeral()
    assert materialize_delivery(ASSETS + CHECKS, delivery, instance, resources={"regdml": res}).success
    manifest = (work / "report" / "export_bundle" / "manifest.csv").read_bytes()
    # a table with a PNR-like label reaches the report folder (e.g. by hand); the bundle must refuse it
    bad = work / "report" / "tables" / "estimates.csv"
    bad.write_text(bad.read_text(encoding="utf-8") + "0101901234\n", encoding="utf-8")
    export = next(a for a in ASSETS if dg.AssetKey("export_bundle") in a.keys)
    result = materialize_delivery(
        [export], delivery, instance, resources={"regdml": res}, raise_on_error=False
    )
    assert not result.success
    assert (work / "report" / "export_bundle" / "manifest.csv").read_bytes() == manifest


def test_a_configured_section_without_a_table_blocks_the_bundle(setup, materialize_delivery):
    """The default configuration asks for covariate balance (IRM designs): without balance.parquet the
    report's blocking check fails, naming the section and the file, and export_bundle does not run."""
    res, work, delivery = setup
    (work / "estimation" / "balance.parquet").unlink()
    instance = dg.DagsterInstance.ephemeral()
    result = materialize_delivery(
        ASSETS + CHECKS, delivery, instance, resources={"regdml": res}, raise_on_error=False
    )
    assert not result.success
    evals = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert evals[SECTIONS_CHECK].passed is False
    text = evals[SECTIONS_CHECK].description
    assert "Covariate balance" in text and "estimation/balance.parquet not found" in text
    mats = {m.asset_key.to_user_string() for m in result.get_asset_materialization_events()}
    assert "export_bundle" not in mats
    assert not (work / "report" / "export_bundle").exists()


def test_an_input_without_its_column_fails_the_report_naming_file_and_column(setup, materialize_delivery):
    import polars as pl

    res, work, delivery = setup
    f = work / "estimation" / "estimates.parquet"
    pl.read_parquet(f).rename({"n_treated": "n_digital"}).write_parquet(f)
    report = next(a for a in ASSETS if dg.AssetKey("report") in a.keys)
    result = materialize_delivery([report], delivery, dg.DagsterInstance.ephemeral(), resources={"regdml": res},
                                  raise_on_error=False)  # fmt: skip
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    text = failure.step_failure_data.user_failure_data.description
    assert "estimation/estimates.parquet" in text and "'n_treated'" in text
