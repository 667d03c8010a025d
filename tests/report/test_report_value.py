"""The report's section "What a digital meeting is worth": table through the gate, figure, sentences,
sources, and tables/value.csv in the export bundle."""

import polars as pl
import pytest

from assets.report.bundle import build_bundle
from assets.report.render import build_report, load_inputs, render_run
from assets.report.scan import scan_folder
from data_contracts.config import load_config
from models import value as V
from tests.report.fixtures import write_fake_run


@pytest.fixture(scope="module")
def cfg():
    return load_config()


@pytest.fixture(scope="module")
def written(tmp_path_factory, cfg):
    work = write_fake_run(tmp_path_factory.mktemp("vrun") / "runs" / "d")
    return render_run(work, cfg)


def test_section_table_figure_and_sources(written, cfg):
    import html as h

    page = written.html_path.read_text(encoding="utf-8")
    assert '<h2 id="value">What a digital meeting is worth</h2>' in page
    html = h.unescape(page)
    # the result beside the debate's figures, and the assumptions with their sources
    for needle in (
        "Digital pays off unless it lowers self-support by more than",
        "15 minutes",
        "30% of staff time saved in jobcentres and 20% in a-kasser",
        "250.0 million kr",
        "39.0 million kr",
        "Every input is an assumption",
        "value.staff_cost_per_hour_dkk",
        "19,322 kr a month in 2021",
        "11,698 kr a month from 1 January 2021",
        "question 558",
    ):
        assert needle in html, needle
    assert "value_per_meeting" in [f.name for f in written.report.figures]
    csv = pl.read_csv(written.report_dir / "tables" / "value.csv", infer_schema=False)
    assert csv.columns == list(V.VALUE_COLUMNS)
    assert csv["benefit_group"].to_list() == ["dagpenge", "kontanthjaelp_jobparat", "all"]
    assert "s" not in [v for c in csv.columns for v in csv[c].to_list()]
    # the numbers are the value table's: net of all = 100 + effect x the count-weighted benefit
    est = pl.read_parquet(written.report_dir.parent / "estimation" / "estimates.parquet").filter(
        (pl.col("outcome") == "weeks_selfsupport_52w") & (pl.col("design") == "irm_att")
    )
    n = cfg.value.annual_jobsamtaler
    total = n["dagpenge"] + n["kontanthjaelp_jobparat"]
    wb = (4459 * n["dagpenge"] + 2700 * n["kontanthjaelp_jobparat"]) / total
    assert float(csv["net_dkk"][2]) == pytest.approx(100 + est["estimate"][0] * wb, rel=1e-3)
    assert float(csv["national_net_dkk_ci_low"][2]) == pytest.approx(
        (100 + est["ci_low"][0] * wb) * total, rel=1e-4
    )


def test_report_prints_every_default_source_with_year_and_links(written, cfg):
    import html as h

    page = written.html_path.read_text(encoding="utf-8")
    for k in cfg.value.source_keys():
        s = cfg.value.sources[k]
        assert s.source in h.unescape(page), k
        assert f"({s.year}): " in page, k
        for u in s.urls:
            assert f'<a href="{u}">' in page, u
    assert "Project estimate, no public source found; change it (2021)" in page


def test_bundle_has_the_value_table_and_passes_the_scan(written):
    res = build_bundle(written.report_dir, written.report_dir / "bundle_test", min_cell=5)
    files = [f["file"] for f in res.files]
    assert "tables/value.csv" in files and "figures/value_per_meeting.png" in files
    assert scan_folder(res.path, min_cell=5) == []


def _with_group_effects(work, rows):
    ge = pl.read_parquet(work / "estimation" / "group_effects.parquet")
    ge = ge.filter(pl.col("group_var") != "benefit_group")
    extra = pl.DataFrame(rows).with_columns(pl.col("n").cast(pl.Int64))
    pl.concat([ge, extra], how="diagonal_relaxed").write_parquet(
        work / "estimation" / "group_effects.parquet"
    )
    est = pl.read_parquet(work / "estimation" / "estimates.parquet")
    v = load_config().value
    overall, groups = V.effects_from_estimates(
        est, pl.concat([ge, extra], how="diagonal_relaxed"), v.outcome, v.design
    )
    V.value_table(v, overall, groups).write_parquet(work / "estimation" / "value.parquet")


def test_small_group_suppressed_and_linked_to_the_group_effects_table(tmp_path, cfg):
    work = write_fake_run(tmp_path / "runs" / "d")
    row = dict(outcome="weeks_selfsupport_52w", design="irm_att", group_var="benefit_group", se=0.3)
    _with_group_effects(
        work,
        [
            {**row, "group": "dagpenge", "estimate": -0.4, "ci_low": -1.0, "ci_high": 0.2, "n": 20000},
            {
                **row,
                "group": "kontanthjaelp_jobparat",
                "estimate": -0.6,
                "ci_low": -1.2,
                "ci_high": 0.0,
                "n": 3,
            },
        ],
    )
    rep = build_report(load_inputs(work), cfg, draw_figures=False)
    ge = rep.results["group_effects"]
    # the group-effects table hides kontanthjaelp (3 meetings) and, by secondary suppression, dagpenge
    assert ge.approved
    hidden = [
        g
        for i, (gv, g) in enumerate(ge.table.select("group_var", "group").iter_rows())
        if gv == "benefit_group" and ge.suppressed["estimate"][i]
    ]
    assert hidden == ["dagpenge", "kontanthjaelp_jobparat"]
    r = rep.results["value"]
    assert r.approved, r.reason
    t = r.table
    for i in (0, 1):
        assert all(r.suppressed[c][i] for c in V.EFFECT_COLUMNS), i
        assert t["break_even_weeks"][i] is not None  # constants are published
    assert t["net_dkk"][2] is not None  # the overall estimate rests on 29,000 meetings
    reasons = {e["reason"] for e in rep.log.filter(pl.col("table") == "value").to_dicts()}
    assert any("below 5" in x for x in reasons)
    assert any("group-effects table" in x for x in reasons)
    assert "n" not in t.columns


def test_without_a_value_table_the_section_says_no_data(tmp_path, cfg):
    work = write_fake_run(tmp_path / "runs" / "d", skip=("estimation/value.parquet",))
    rep = build_report(load_inputs(work), cfg, draw_figures=False)
    assert "No data: the table 'value'" in rep.html
    assert "value.weekly_benefit_dkk.dagpenge" in rep.html  # the assumptions are still listed
    assert "value" in rep.missing
