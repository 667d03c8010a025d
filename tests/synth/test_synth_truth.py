"""The truth file agrees with the simulated potential outcomes and with the written delivery."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import polars as pl
import pytest

from data_contracts.codebook import load_codebook
from synth import SynthParams, generate_delivery
from synth.calendar import Calendar
from synth.codes import Codes
from synth.outcomes import OUTCOMES, compute_outcomes

EXIT = ("y_exit_4w", "y_exit_13w", "y_exit_26w", "y_exit_52w")


def _truth(delivery) -> dict:
    return json.loads(delivery["truth"].read_text(encoding="utf-8"))


def test_truth_outside_delivery(delivery):
    out, truth = delivery["out"], delivery["truth"]
    assert truth == out.parent / "synthetic.truth.json"
    assert truth.is_file() and delivery["meetings"].is_file()
    assert out.resolve() not in truth.resolve().parents
    assert not any(p.suffix == ".json" for p in out.iterdir())


def test_truth_path_inside_delivery_refused(tmp_path):
    out = tmp_path / "d"
    with pytest.raises(ValueError, match="outside the delivery folder"):
        generate_delivery(out, persons=10, seed=1, truth_path=out / "truth.json")
    assert not out.exists()


def test_refuses_folder_with_foreign_files(tmp_path):
    out = tmp_path / "d"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="not delivery files"):
        generate_delivery(out, persons=10, seed=1)
    assert (out / "notes.txt").read_text() == "keep me"


def test_truth_metadata(delivery):
    t = _truth(delivery)
    cb = load_codebook()
    assert t["seed"] == 11 and t["persons"] == 3000
    assert t["codebook_version"] == cb.version and t["codebook_sha256"] == cb.sha256
    assert t["generator_version"]
    assert t["params"]["chunk_size"] == 1000 and t["params"]["null_effect"] is False
    assert set(t["effects"]) == set(OUTCOMES)
    for name in OUTCOMES:
        assert set(t["effects"][name]["by_group"]) == {"benefit_group", "age_band", "sex", "education_level"}


def test_truth_recomputed_from_meetings(delivery):
    t = _truth(delivery)
    m = pl.read_parquet(delivery["meetings"])
    assert m.height == t["sample"]["n_eligible_meetings"] > 1000
    d = m["digital"].to_numpy()
    for name in OUTCOMES:
        y0 = m[f"{name}_0"].to_numpy()
        y1 = m[f"{name}_1"].to_numpy()
        both = ~np.isnan(y0) & ~np.isnan(y1)
        ov = t["effects"][name]["overall"]
        assert ov["n"] == both.sum()
        assert ov["ate"] == pytest.approx(np.mean((y1 - y0)[both]), abs=1e-12)
        assert ov["att"] == pytest.approx(np.mean((y1 - y0)[both & (d == 1)]), abs=1e-12)
        for g in ("benefit_group", "age_band", "sex", "education_level"):
            lab = m[g].to_numpy()
            for v, e in t["effects"][name]["by_group"][g].items():
                s = both & (lab == v)
                assert e["n"] == s.sum()
                if s.any():
                    assert e["ate"] == pytest.approx(np.mean((y1 - y0)[s]), abs=1e-12)
        # observed outcome = potential outcome of the observed form
        yo = m[f"{name}_obs"].to_numpy()
        np.testing.assert_array_equal(np.where(d == 1, y1, y0), yo)


def test_effects_plausible_and_placebo_zero(delivery):
    t = _truth(delivery)
    eff = t["effects"]
    assert eff["weeks_selfsupport_pre52w"]["overall"]["ate"] == 0.0
    assert eff["weeks_selfsupport_pre52w"]["overall"]["att"] == 0.0
    for name in EXIT:
        ov = eff[name]["overall"]
        assert -0.05 < ov["ate"] < 0.01
    for name in ("y_exit_13w", "y_exit_26w", "y_exit_52w", "weeks_selfsupport_26w"):
        ov = eff[name]["overall"]
        # selection: people with better prospects are more often digital, so the naive difference is far
        # above the (small, mostly negative) true effect
        assert ov["naive_difference"] - ov["att"] > 0.03
    bg = eff["y_exit_26w"]["by_group"]["benefit_group"]
    assert set(bg) == {"dagpenge", "kontanthjaelp_jobparat"}
    m = pl.read_parquet(delivery["meetings"])
    hr = m.group_by("benefit_group").agg(pl.col("true_hazard_ratio").mean()).sort("benefit_group")
    assert hr["true_hazard_ratio"][1] < hr["true_hazard_ratio"][0] < 1.0


def test_sample_size_and_treatment_shares(delivery):
    t = _truth(delivery)
    s = t["sample"]
    per_person = s["n_eligible_meetings"] / 3000
    assert per_person > 0.75  # 20,000 persons give >= 15,000 eligible meetings
    share_in_person = s["n_in_person"] / s["n_eligible_meetings"]
    assert 0.15 < share_in_person < 0.6


def test_observed_outcomes_from_delivery(delivery):
    """Independent eligibility from the written files; outcomes recomputed from the written DREAM."""
    out = delivery["out"]
    cb = load_codebook()
    codes = Codes.from_codebook(cb)
    cal = Calendar()
    sam = pl.concat([pl.read_parquet(out / f"samtaler{y}.parquet") for y in range(2019, 2023)])
    val = pl.read_parquet(out / "kontaktform_validering.parquet")
    dream = pl.read_parquet(out / "dream.parquet")
    cat = {k: v.category for k, v in cb.kontaktform.items()}
    el = (
        sam.with_columns(
            pl.col("KONTAKTFORM").replace_strict(cat).alias("cat"),
            pl.col("SAMTALE_DATO").dt.strftime("%Y-%m").alias("MAANED"),
        )
        .filter(
            (pl.col("SAMTALETYPE") == cb.samtaletype_code("jobsamtale"))
            & (pl.col("AKTOER") == "JC")
            & pl.col("SAMTALE_DATO").is_between(dt.date(2020, 5, 1), dt.date(2021, 2, 28))
            & pl.col("cat").is_in(["digital", "in_person"])
        )
        .join(val, on=["KOMMUNE", "MAANED"], how="left")
        .filter(pl.col("BEKRAEFTET") == 1)
    )
    ycols = cal.y_columns
    gcols = cal.grad_columns
    idx = {p: i for i, p in enumerate(dream["PNR"].to_list())}
    codes_mat = np.column_stack([dream[c].cast(pl.Int32).fill_null(0).to_numpy() for c in ycols])
    grads = np.column_stack([dream[c].cast(pl.Int32).fill_null(-1).to_numpy() for c in gcols])
    rows = np.array([idx[p] for p in el["PNR"].to_list()])
    week = cal.week_of(el["SAMTALE_DATO"].to_numpy().astype("datetime64[D]"))
    tgt = codes.target_lookup[codes_mat[rows, week]] >= 0
    el = el.filter(pl.Series(tgt))
    rows, week = rows[tgt], week[tgt]
    m = pl.read_parquet(delivery["meetings"])
    assert el.height == m.height
    res = compute_outcomes(
        codes_mat[rows], grads[rows], week, cal.week_month, codes.kind_lookup, codes.target_lookup
    )
    mine = pl.DataFrame(
        {
            "PNR": el["PNR"],
            "SAMTALE_DATO": el["SAMTALE_DATO"],
            "digital": (el["cat"] == "digital").cast(pl.Int8),
            **{f"{k}_file": res[k] for k in OUTCOMES},
        }
    )
    mine = mine.group_by("PNR", "SAMTALE_DATO").agg(pl.all().sort()).sort("PNR", "SAMTALE_DATO")
    ref = (
        m.rename({"pnr": "PNR", "samtale_dato": "SAMTALE_DATO"})
        .select("PNR", "SAMTALE_DATO", "digital", *[f"{k}_obs" for k in OUTCOMES])
        .group_by("PNR", "SAMTALE_DATO")
        .agg(pl.all().sort())
        .sort("PNR", "SAMTALE_DATO")
    )
    assert mine["PNR"].to_list() == ref["PNR"].to_list()
    assert mine["digital"].to_list() == ref["digital"].to_list()
    for k in OUTCOMES:
        a = np.concatenate(mine[f"{k}_file"].to_list())
        b = np.concatenate(ref[f"{k}_obs"].to_list())
        np.testing.assert_array_equal(np.sort(a), np.sort(b))


def test_three_arm_truth_consistent_with_digital(delivery):
    """The digital potential value is the latent form's (telephone or video); the contrasts are recomputed
    from the meetings; video is a little better than telephone."""
    t = _truth(delivery)
    m = pl.read_parquet(delivery["meetings"])
    for name in OUTCOMES:
        y0, y1 = m[f"{name}_0"].to_numpy(), m[f"{name}_1"].to_numpy()
        yt, yv = m[f"{name}_telephone"].to_numpy(), m[f"{name}_video"].to_numpy()
        # every meeting's digital value is its telephone or its video value
        same = lambda a, b: (a == b) | (np.isnan(a) & np.isnan(b))  # noqa: E731
        assert (same(y1, yt) | same(y1, yv)).all()
        ok = ~np.isnan(y0) & ~np.isnan(yt) & ~np.isnan(yv)
        c = t["effects"][name]["contrasts"]
        assert c["telephone_vs_in_person"]["ate"] == pytest.approx(np.mean((yt - y0)[ok]), abs=1e-12)
        assert c["video_vs_in_person"]["ate"] == pytest.approx(np.mean((yv - y0)[ok]), abs=1e-12)
        assert c["video_vs_telephone"]["ate"] == pytest.approx(np.mean((yv - yt)[ok]), abs=1e-12)
    # a better hazard after video than after telephone: more exits, never fewer on average
    c26 = t["effects"]["y_exit_26w"]["contrasts"]
    assert c26["video_vs_telephone"]["ate"] > 0
    assert c26["telephone_vs_in_person"]["ate"] < c26["video_vs_in_person"]["ate"]
    assert t["effects"]["weeks_selfsupport_pre52w"]["contrasts"]["video_vs_telephone"]["ate"] == 0.0


def test_null_effect(tmp_path):
    summary = generate_delivery(tmp_path / "n", persons=800, seed=5, params=SynthParams(null_effect=True))
    t = json.loads(open(summary["truth"], encoding="utf-8").read())
    assert t["params"]["null_effect"] is True
    for name in OUTCOMES:
        assert t["effects"][name]["overall"]["ate"] == 0.0
        assert t["effects"][name]["overall"]["att"] == 0.0
        for groups in t["effects"][name]["by_group"].values():
            assert all(e["ate"] in (0.0, None) for e in groups.values())
    m = pl.read_parquet(summary["meetings"])
    assert (m["true_hazard_ratio"] == 1.0).all()
    for name in OUTCOMES:
        assert all(c["ate"] in (0.0, None) for c in t["effects"][name]["contrasts"].values())


def test_form_among_digital_meetings_is_random(delivery):
    """A digital meeting's observed outcome is the potential value of its registered form (the codebook's
    telephone or video), and the form is drawn independently of everything else: the observed
    video-minus-telephone difference among digital meetings, a comparison with no adjustment, lies within
    3 SE of the true contrast among them. This is the design-free check behind the modality design's
    video_vs_telephone truth (docs/synth.md, "The three forms"): a miss there that this difference shares
    is in the draw of the forms, not in the estimator or the truth."""
    forms = load_codebook().kontaktform_forms()
    m = pl.read_parquet(delivery["meetings"]).filter(pl.col("digital") == 1)
    form = np.array([forms[k] for k in m["kontaktform"].to_list()])
    assert set(form) == {"telephone", "video"}
    for name in EXIT:
        y = m[f"{name}_obs"].to_numpy()
        pot = np.where(form == "telephone", m[f"{name}_telephone"].to_numpy(), m[f"{name}_video"].to_numpy())
        assert ((y == pot) | (np.isnan(y) & np.isnan(pot))).all()
        ok = ~np.isnan(y)
        v, t = y[ok & (form == "video")], y[ok & (form == "telephone")]
        diff = v.mean() - t.mean()
        se = np.sqrt(v.var(ddof=1) / v.size + t.var(ddof=1) / t.size)
        truth = np.nanmean(m[f"{name}_video"].to_numpy() - m[f"{name}_telephone"].to_numpy())
        assert abs(diff - truth) < 3 * se, (name, diff, truth, se)
