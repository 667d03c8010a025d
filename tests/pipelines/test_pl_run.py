"""`regdml run` materializes every asset of a delivery through Dagster, on the instance the UI shows."""

import subprocess
import sys

import dagster as dg
import polars as pl

from assets.resources import RegdmlResource
from pipelines.definitions import build_definitions


def test_run_succeeds_and_writes_every_stage(small_run):
    assert small_run["code"] == 0
    work = small_run["paths"].work_dir
    for rel in (
        "raw/delivery_manifest.parquet",
        "staging/dream.parquet",
        "staging/registers.duckdb",
        "cohort/benefit_spells.parquet",
        "treatment/sample_flow.parquet",
        "analysis/analysis_table.parquet",
        "analysis/column_dictionary.parquet",
        "analysis/run_config.yaml",
        "estimation/estimates.parquet",
        "report/report.html",
    ):
        assert (work / rel).exists(), rel


def test_only_configured_cells_are_estimated(small_run):
    est = pl.read_parquet(small_run["paths"].work_dir / "estimation" / "estimates.parquet")
    assert set(est["outcome"]) == {"y_exit_13w", "y_exit_26w", "weeks_selfsupport_pre52w"}
    assert set(est["design"]) == {"irm_att", "irm_ate", "plr", "pliv", "naive"}
    assert est.height == 15


def test_every_asset_is_materialized_in_the_instance(small_run):
    instance = dg.DagsterInstance.from_config(str(small_run["dagster_home"]))
    defs = build_definitions(RegdmlResource(delivery_dir=str(small_run["paths"].delivery_dir)))
    graph = defs.resolve_asset_graph()
    missing = []
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if not node.is_materializable:
            continue
        if instance.get_latest_materialization_event(key) is None:
            missing.append(key.to_user_string())
    assert missing == []


def test_sample_flow_accounts_for_every_meeting(small_run):
    work = small_run["paths"].work_dir
    flow = pl.read_parquet(work / "treatment" / "sample_flow.parquet")
    table = pl.read_parquet(work / "analysis" / "analysis_table.parquet")
    assert (flow["units_before"] - flow["units_removed"] == flow["units_after"]).all()
    assert (
        flow["units_after"].head(flow.height - 1).to_list()
        == flow["units_before"].tail(flow.height - 1).to_list()
    )
    assert flow["units_after"][-1] == table.height


def test_cli_help_lists_every_command():
    out = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "--help"], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    for command in ("synth", "run", "build-table", "estimate", "lineage", "ui", "scan"):
        assert command in out.stdout


def test_rerun_with_nothing_changed_recomputes_nothing(small_run, small_delivery, fast_config, monkeypatch):
    from pipelines.run import run_delivery

    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    home = str(small_run["dagster_home"])
    instance = dg.DagsterInstance.from_config(home)
    watched = [
        dg.AssetKey(k)
        for k in ("bef", "benefit_spells", "analysis_table", "estimate_cell", "estimates", "report")
    ]

    def latest_ids():
        return {k: instance.get_latest_materialization_event(k).run_id for k in watched}

    before = latest_ids()
    code, _ = run_delivery(small_delivery, workdir=small_run["workdir"], config=fast_config)
    assert code == 0
    assert latest_ids() == before
    monkeypatch.delenv("DAGSTER_HOME", raising=False)


def test_summary_prints_gated_flow_estimates_with_truth_and_diagnostics(small_run, small_delivery, capsys):
    from pipelines.summary import print_run_summary

    print_run_summary(small_run["paths"], truth=small_delivery.parent / "small.truth.json", min_cell=5)
    out = capsys.readouterr().out
    for heading in (
        "== Sample flow",
        "== Estimates",
        "== Diagnostics of the primary design",
        "== Placebos",
        "== Reversed trial",
    ):
        assert heading in out, heading
    assert "true_value" in out and "report: " in out and "export bundle: " in out
    # the feasibility verdict opens the summary (issue 18)
    assert out.index("== Feasibility") < out.index("== Sample flow")
    verdict_line = out[out.index("== Feasibility") :].splitlines()[1]
    assert verdict_line.split(":")[0] in ("CAN ANSWER", "ONLY LARGE EFFECTS", "CANNOT ANSWER", "NOT ASSESSED")
    assert (small_run["paths"].work_dir / "estimation" / "feasibility.parquet").is_file()
    # The printed sample flow passes the disclosure rule: no rule removes between 1 and 4 meetings.
    flow = pl.read_parquet(small_run["paths"].work_dir / "treatment" / "sample_flow.parquet")
    from models.disclosure import collapse_flow

    safe, _ = collapse_flow(flow, 5)
    assert not safe.filter((pl.col("units_removed") > 0) & (pl.col("units_removed") < 5)).height
    for rule in safe["rule"].to_list():
        assert rule in out
    # No PNR of the delivery appears in what is printed.
    pnrs = pl.read_parquet(small_run["paths"].work_dir / "analysis" / "analysis_table.parquet")["pnr"].head(
        200
    )
    assert not any(p in out for p in pnrs.to_list())


def test_truth_is_attached_by_design():
    import json
    import tempfile
    from pathlib import Path

    from pipelines.summary import attach_truth

    truth = {"effects": {"y_exit_13w": {"overall": {"att": -0.002, "ate": -0.001}, "by_group": {}}}}
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "t.json"
        p.write_text(json.dumps(truth), encoding="utf-8")
        est = pl.DataFrame({"outcome": ["y_exit_13w"] * 2, "design": ["irm_att", "irm_ate"]})
        out = attach_truth(est, p)
    assert out["true_value"].to_list() == [-0.002, -0.001]


def test_truth_is_attached_to_each_modality_contrast(tmp_path):
    import json

    from pipelines.summary import attach_truth

    contrasts = {"telephone_vs_in_person": {"ate": -0.004}, "video_vs_in_person": {"ate": 0.001},
                 "video_vs_telephone": {"ate": 0.005}}  # fmt: skip
    truth = {"effects": {"y_exit_13w": {"overall": {"att": -0.002, "ate": -0.001}, "contrasts": contrasts}}}
    p = tmp_path / "t.json"
    p.write_text(json.dumps(truth), encoding="utf-8")
    est = pl.DataFrame(
        {
            "outcome": ["y_exit_13w"] * 4,
            "design": ["irm_ate", "modality", "modality", "modality"],
            "contrast": [None, "video_vs_telephone", "telephone_vs_in_person", "video_vs_in_person"],
        }
    )
    assert attach_truth(est, p)["true_value"].to_list() == [-0.001, 0.005, -0.004, 0.001]


def test_final_run_needs_five_repetitions(tmp_path, fast_config):
    """``regdml run --final`` with the configuration's one repetition is refused before any work, naming
    the key; ``final: true`` in the configuration is refused the same way."""
    import pytest

    from pipelines.cli import main

    with pytest.raises(SystemExit, match=r"estimation\.n_reps = 1.*estimation\.n_reps >= 5"):
        main(["run", "--delivery", str(tmp_path / "none"), "--config", str(fast_config), "--final"])
    cfg = tmp_path / "final.yaml"
    cfg.write_text("estimation:\n  final: true\n  n_reps: 3\n", encoding="utf-8")
    with pytest.raises(SystemExit, match=r"estimation\.final is true but estimation\.n_reps = 3"):
        main(["run", "--delivery", str(tmp_path / "none"), "--config", str(cfg)])
    assert not (tmp_path / "none").exists()


def test_run_with_one_repetition_is_marked_exploratory(small_run, fast_config, capsys):
    from data_contracts.config import load_config
    from pipelines.summary import print_run_summary

    work = small_run["paths"].work_dir
    assert "EXPLORATORY RUN" in (work / "report" / "report.html").read_text(encoding="utf-8")
    manifest = (work / "report" / "export_bundle" / "MANIFEST.txt").read_text(encoding="utf-8")
    assert "Run: exploratory: 1 repetition(s)" in manifest
    print_run_summary(small_run["paths"], min_cell=5, cfg=load_config(fast_config))
    assert "== Run: EXPLORATORY" in capsys.readouterr().out
