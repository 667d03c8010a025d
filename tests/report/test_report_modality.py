"""The report's modality section: the forms by month (disclosure control per arm) and the contrasts with
their true values in one figure."""

import polars as pl
import pytest

from assets.report.render import ReportInputs, build_report, normalize_truth, true_value
from assets.report.render.diagnostic_figures import fig_modality
from assets.report.render.gating import gate_all
from data_contracts.config import load_config
from tests.report.fixtures import fake_tables

CONTRASTS = ["telephone_vs_in_person", "video_vs_in_person", "video_vs_telephone"]


def _inputs() -> ReportInputs:
    t = fake_tables()
    # the fixture's own modality rows left out: these tests write theirs
    est = t["estimation/estimates.parquet"].filter(pl.col("design") != "modality")
    mod = pl.DataFrame(
        {
            "outcome": ["y_exit_26w"] * 3,
            "design": ["modality"] * 3,
            "contrast": CONTRASTS,
            "model": ["APOS"] * 3,
            "score": ["ATE"] * 3,
            "estimate": [-0.012, -0.004, 0.008],
            "se": [0.004] * 3,
            "ci_low": [-0.02, -0.012, 0.0],
            "ci_high": [-0.004, 0.004, 0.016],
            "p_value": [0.01, 0.3, 0.05],
            "n": [9000, 6000, 5000],
            "n_treated": [4000, 1000, 1000],
        }
    )
    est = pl.concat([est, mod], how="diagonal_relaxed")
    share = pl.DataFrame(
        {
            "calendar_month": ["2020-06", "2020-07", "2020-08"],
            "n_meetings": [500, 400, 600],
            "n_digital": [300, 200, 300],
            "digital_share": [0.6, 0.5, 0.5],
            "n_in_person": [200, 200, 300],
            "n_telephone": [297, 150, 200],  # 2020-06: video has 3 meetings, under the minimum
            "n_video": [3, 50, 100],
            "n_no_form": [0, 0, 0],
        }
    )
    return ReportInputs(estimates=est, share_month=share)


def test_truth_per_contrast():
    truth = normalize_truth(
        {"effects": {"y_exit_26w": {"overall": {"att": -0.01, "ate": -0.01}, "contrasts": {
            "telephone_vs_in_person": {"ate": -0.011}, "video_vs_in_person": {"ate": -0.005},
            "video_vs_telephone": {"ate": 0.006}}}}}
    )  # fmt: skip
    assert true_value(truth, "y_exit_26w", "modality", contrast="video_vs_telephone") == 0.006
    assert true_value(truth, "y_exit_26w", "modality") is None
    assert true_value(truth, "y_exit_26w", "irm_ate") == -0.01


def test_forms_by_month_suppressed_per_arm_and_contrasts_gated():
    truth = {
        "y_exit_26w": {"att": -0.01, "ate": -0.01, "groups": {}, "contrasts": {c: -0.005 for c in CONTRASTS}}
    }
    results, _ = gate_all(_inputs(), truth, 5)
    forms = results["forms_by_month"]
    assert forms.approved
    t = forms.table
    june = t.filter(pl.col("month") == "2020-06").row(0, named=True)
    # a 3-meeting video arm is not published, nor anything it could be recovered from
    assert june["n_video"] is None and june["share_video"] is None
    # the forms add up to n_with_form and every column's total is taken as known: no row or column of
    # form counts has a single suppressed cell (it would be recovered by difference)
    counts = t.select("n_in_person", "n_telephone", "n_video")
    assert all(n != 1 for n in counts.select(pl.all().is_null().sum()).row(0))
    assert all(n != 1 for n in counts.select(pl.sum_horizontal(pl.all().is_null())).to_series())
    assert counts.null_count().sum_horizontal().item() < 9  # not everything: the others are published
    shown = t.filter(pl.col("n_in_person").is_not_null()).row(0, named=True)
    assert shown["share_in_person"] == pytest.approx(shown["n_in_person"] / shown["n_with_form"])
    con = results["modality_contrasts"]
    assert con.approved and con.table["contrast"].to_list() == CONTRASTS
    assert con.table["true_value"].to_list() == [-0.005] * 3
    # the main estimates table keeps the three rows apart by their contrast
    est = results["estimates"].table
    assert est.filter(pl.col("design") == "modality")["contrast"].to_list() == CONTRASTS
    fig = fig_modality(con, forms)
    assert fig is not None and set(fig.source_tables) == {"modality_contrasts", "forms_by_month"}


def test_report_has_the_modality_section():
    rep = build_report(_inputs(), load_config(), truth=None, draw_figures=True)
    html = rep.html if hasattr(rep, "html") else str(rep)
    assert "In person, by telephone or by video" in html
    assert "modality_contrasts" in html


def test_group_effects_keyed_by_contrast():
    inp = _inputs()
    rows = []
    for c in CONTRASTS:
        for grp, n_t, n_c in (("dagpenge", 600, 900), ("kontanthjaelp_jobparat", 400, 300)):
            rows.append({"outcome": "y_exit_26w", "design": "modality", "contrast": c, "group_var": "benefit_group",
                         "group": grp, "estimate": -0.01, "se": 0.01, "ci_low": -0.03, "ci_high": 0.01,
                         "n": n_t + n_c, "n_treated": n_t, "n_control": n_c, "reason": None})  # fmt: skip
    inp.group_effects = pl.DataFrame(rows)
    results, _ = gate_all(inp, None, 5)
    g = results["group_effects"]
    assert g.approved and g.table.height == 6
    assert g.table.select("contrast", "group").is_duplicated().sum() == 0


def test_share_tables_show_the_three_forms_with_disclosure_control():
    inp = _inputs()
    # two municipalities; 101's June video count is 2 (small), 147's June 1: the month total is 3
    inp.share_municipality = pl.DataFrame(
        {
            "kommune": [101, 147, 101, 147, 101, 147],
            "calendar_month": ["2020-06", "2020-06", "2020-07", "2020-07", "2020-08", "2020-08"],
            "n_meetings": [250, 250, 200, 200, 300, 300],
            "n_digital": [150, 150, 100, 100, 150, 150],
            "digital_share": [0.6, 0.6, 0.5, 0.5, 0.5, 0.5],
            "n_in_person": [100, 100, 100, 100, 150, 150],
            "n_telephone": [148, 149, 75, 75, 100, 100],
            "n_video": [2, 1, 25, 25, 50, 50],
            "n_no_form": [0] * 6,
        }
    )
    results, _ = gate_all(inp, None, 5)
    month = results["digital_share_by_month"]
    assert month.approved
    t = month.table
    # telephone and video beside the digital share; no code lacks a form, so no n_no_form column
    assert {"n_telephone", "n_video", "share_telephone", "share_video"} <= set(t.columns)
    assert "n_no_form" not in t.columns
    # June's 3 video meetings (primary) take June's telephone count with them (the two make up the digital
    # meetings, which are published); the video column's total takes the smallest other month's video
    # (July, 50) and July's row its telephone count. August is published.
    june = t.filter(pl.col("month") == "2020-06").row(0, named=True)
    assert june["n_video"] is None and june["n_telephone"] is None and june["share_video"] is None
    assert june["n_digital"] == 300 and june["share_digital"] == pytest.approx(0.6)
    july = t.filter(pl.col("month") == "2020-07").row(0, named=True)
    assert july["n_video"] is None and july["n_telephone"] is None
    aug = t.filter(pl.col("month") == "2020-08").row(0, named=True)
    assert (aug["n_telephone"], aug["n_video"]) == (200, 100)
    assert aug["share_telephone"] == pytest.approx(200 / 600) and aug["share_video"] == pytest.approx(
        100 / 600
    )
    # the two-arm in-person count stays n - n_digital
    assert (t["n_in_person"] == t["n"] - t["n_digital"]).all()
    # municipality x month: a suppressed month total hides its municipalities' cells (linked)
    km = results["digital_share_by_municipality_month"].table
    assert km.filter(pl.col("month") == "2020-06")["n_video"].null_count() == 2
    assert km.filter(pl.col("month") == "2020-06")["n_telephone"].null_count() == 2
    # the municipality totals carry the forms too (summed over the window)
    mun = (
        results["digital_share_by_municipality"]
        .table.filter(pl.col("municipality") == "101")
        .row(0, named=True)
    )
    assert mun["n_video"] == 77 and mun["share_video"] == pytest.approx(77 / 750)
    # forms_by_month publishes nothing the month table suppresses (linked)
    forms = results["forms_by_month"].table
    fjune = forms.filter(pl.col("month") == "2020-06").row(0, named=True)
    assert fjune["n_telephone"] is None and fjune["n_video"] is None
    for c in ("n_telephone", "n_video"):
        hidden = set(t.filter(pl.col(c).is_null())["month"])
        assert hidden <= set(forms.filter(pl.col(c).is_null())["month"])


def test_share_table_counts_the_codes_without_a_form():
    inp = _inputs()
    # "other digital" left without a form: 12 meetings in July, 2 in August (small: suppressed)
    inp.share_month = inp.share_month.with_columns(
        pl.Series("n_video", [3, 38, 98]), pl.Series("n_no_form", [0, 12, 2])
    )
    results, _ = gate_all(inp, None, 5)
    t = results["digital_share_by_month"].table
    assert "n_no_form" in t.columns
    aug = t.filter(pl.col("month") == "2020-08").row(0, named=True)
    # the 2 are hidden and so is another of August's digital forms (they add up to n_digital)
    assert aug["n_no_form"] is None and (aug["n_telephone"] is None or aug["n_video"] is None)
    forms = results["forms_by_month"].table
    # forms_by_month's n_with_form (= n - n_no_form) would give the 2 away: hidden with it
    assert forms.filter(pl.col("month") == "2020-08")["n_with_form"][0] is None


def _arm_inputs(trimmed=(20, 3, 12)) -> ReportInputs:
    inp = _inputs()
    ip, tel, vid = trimmed
    pair = {
        "telephone_vs_in_person": tel + ip,
        "video_vs_in_person": vid + ip,
        "video_vs_telephone": vid + tel,
    }
    inp.estimates = inp.estimates.with_columns(
        pl.when(pl.col("design") == "modality")
        .then(pl.col("contrast").replace_strict(pair, default=None, return_dtype=pl.Int64))
        .otherwise(pl.col("n_trimmed") if "n_trimmed" in inp.estimates.columns else None)
        .alias("n_trimmed")
    )
    # as a run writes them: the rows' missing outcomes and instruments are counted too (the row's n is
    # n_trimmed's margin with them)
    mod = pl.col("design") == "modality"
    inp.estimates = inp.estimates.with_columns(
        *[
            pl.when(mod)
            .then(pl.lit(v, dtype=pl.Int64))
            .otherwise(pl.col(c) if c in inp.estimates.columns else None)
            .alias(c)
            for c, v in (("n_missing_outcome", 40), ("n_missing_instrument", 0))
        ]
    )
    inp.potential_outcomes = pl.DataFrame(
        {
            "outcome": ["y_exit_26w"] * 3,
            "design": ["modality"] * 3,
            "level": ["in_person", "telephone", "video"],
            "estimate": [0.30, 0.29, 0.296],
            "se": [0.003] * 3,
            "ci_low": [0.294, 0.284, 0.29],
            "ci_high": [0.306, 0.296, 0.302],
            "n": [4000, 5000, 1000],
            "n_trimmed": list(trimmed),
            "propensity_min": [0.05, 0.04, 0.03],  # per-unit extremes: never offered to the gate
            "propensity_max": [0.9, 0.9, 0.5],
        }
    )
    rows = []
    for form in LEVELS_:
        for arm, n in zip(LEVELS_, (4020, 5003, 1012), strict=True):
            rows.append({"outcome": "y_exit_26w", "design": "modality", "form": form, "arm": arm, "n": n,
                         "min": 0.03, "p05": 0.1, "p25": 0.2, "p50": 0.3, "p75": 0.4, "p95": 0.5, "max": 0.8})  # fmt: skip
    inp.overlap_by_arm = pl.DataFrame(rows)
    return inp


LEVELS_ = ["in_person", "telephone", "video"]


def test_modality_arms_and_overlap_by_arm_with_disclosure_control():
    results, _ = gate_all(_arm_inputs(), None, 5)
    arms = results["modality_arms"]
    assert arms.approved and "propensity_min" not in arms.table.columns
    t = {r["form"]: r for r in arms.table.iter_rows(named=True)}
    # 3 telephone meetings trimmed (primary); the outcome's total is derivable from the estimates' pair
    # sums, so the smallest other trimmed count (video, 12) goes with it; the APOs stay (backed by n)
    assert t["telephone"]["n_trimmed"] is None and t["video"]["n_trimmed"] is None
    assert t["in_person"]["n_trimmed"] == 20 and t["telephone"]["estimate"] == 0.29
    # the estimates' modality rows: every pair sum touching telephone or video would solve for them
    est = results["estimates"].table.filter(pl.col("design") == "modality")
    assert est["n_trimmed"].null_count() == 3
    assert est["estimate"].null_count() == 0 and est["n"].null_count() == 0  # only the counts are hidden
    # overlap by arm: the quantiles are backed by each arm's meetings used (as in modality_arms), not by
    # its meetings before trimming (4020, 5003, 1012), which beside them would give the trimmed count away
    ov = results["modality_overlap"].table
    assert "n" not in ov.columns and ov["p50"].null_count() == 0
    assert dict(zip(ov["arm"], ov["n_used"], strict=False)) == {
        "in_person": 4000,
        "telephone": 5000,
        "video": 1000,
    }
    assert 4020 not in ov["n_used"].to_list()


def test_overlap_by_arm_hidden_with_a_tiny_arm():
    inp = _arm_inputs((20, 8, 12))
    # a video arm of 3 meetings used: its APO, its overlap rows and (as the outcome's total is derivable)
    # the smallest other arm's are hidden
    inp.potential_outcomes = inp.potential_outcomes.with_columns(pl.Series("n", [4000, 5000, 3]))
    results, _ = gate_all(inp, None, 5)
    arms = results["modality_arms"].table
    assert arms["n"].to_list() == [None, 5000, None] and arms["estimate"].null_count() == 2
    ov = results["modality_overlap"].table
    assert set(ov.filter(pl.col("n_used").is_null())["arm"]) == {"in_person", "video"}
    assert ov.filter(pl.col("arm") == "video")["p50"].null_count() == 3
    assert ov.filter(pl.col("arm") == "telephone")["p50"].null_count() == 0


def test_modality_arms_all_published_when_every_trimmed_count_is_large():
    results, _ = gate_all(_arm_inputs((20, 8, 12)), None, 5)
    assert results["modality_arms"].table["n_trimmed"].to_list() == [20, 8, 12]
    est = results["estimates"].table.filter(pl.col("design") == "modality")
    assert est["n_trimmed"].to_list() == [28, 32, 20]
    assert results["modality_overlap"].table["n_used"].null_count() == 0
    rep = build_report(_arm_inputs((20, 8, 12)), load_config(), truth=None, draw_figures=False)
    html = rep.html if hasattr(rep, "html") else str(rep)
    assert "modality_overlap" in html and "modality_arms" in html


def test_small_in_person_month_hides_a_digital_form():
    # the demo's May 2020: 154 meetings, 4 in person; publishing telephone 103 and video 47 would give the
    # suppressed n_digital (150) and so the 4 away
    inp = _inputs()
    inp.share_month = pl.DataFrame(
        {
            "calendar_month": ["2020-05", "2020-06"],
            "n_meetings": [154, 284],
            "n_digital": [150, 269],
            "digital_share": [150 / 154, 269 / 284],
            "n_in_person": [4, 15],
            "n_telephone": [103, 192],
            "n_video": [47, 77],
            "n_no_form": [0, 0],
        }
    )
    results, _ = gate_all(inp, None, 5)
    may = results["digital_share_by_month"].table.filter(pl.col("month") == "2020-05").row(0, named=True)
    assert may["n_in_person"] is None and may["n_digital"] is None
    assert may["n_telephone"] is None or may["n_video"] is None
    fmay = results["forms_by_month"].table.filter(pl.col("month") == "2020-05").row(0, named=True)
    assert fmay["n_in_person"] is None and (fmay["n_telephone"] is None or fmay["n_video"] is None)
