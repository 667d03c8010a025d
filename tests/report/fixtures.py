"""Small hand-made stand-ins for the register and estimation outputs (tests and report previews).

A test fixture, so under ``tests/`` and not shipped in the package (import it as ``tests.report.fixtures``
from the repository root, as ``python -m pytest`` does).

``write_fake_run(work_dir)`` writes the files the report reads under the names and columns the pipeline
writes (assets/report/render/inputs.py declares them; tests/report/test_report_inputs.py checks the
fixture against it), with a few deliberately small cells so that disclosure control has work to do.
No Dagster import.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl

from data_contracts.codebook import FLOW_FORM_COLUMNS

OUTCOMES = (
    "y_exit_4w",
    "y_exit_13w",
    "y_exit_26w",
    "y_exit_52w",
    "weeks_selfsupport_26w",
    "weeks_selfsupport_52w",
)
DESIGNS = ("irm_att", "irm_ate", "plr", "pliv", "naive")

# the synthetic generator's truth file (synth/generate.py: "effects" -> overall / by_group per outcome)
TRUTH = {
    "effects": {
        o: {
            "overall": {
                "att": (0.01 if o.startswith("y_") else -0.5),
                "ate": (0.008 if o.startswith("y_") else -0.4),
            },
            "by_group": {"sex": {"M": {"att": 0.012, "ate": 0.01}, "K": {"att": 0.008, "ate": 0.006}}},
        }
        for o in OUTCOMES
    },
    "seed": 20200501,
}


def fake_tables(seed: int = 1) -> dict[str, pl.DataFrame]:
    rng = np.random.default_rng(seed)
    months = [f"2020-{m:02d}" for m in range(5, 13)] + ["2021-01", "2021-02"]
    flow = (
        pl.DataFrame(
            {
                "rule": ["R1", "R2", "R3", "R4", "R5", "R6"],
                "description": [
                    "jobsamtale held by a jobcentre",
                    "in the window",
                    "form digital or in person",
                    "confirmed municipality-month",
                    "tiny rule (3 removed)",
                    "target group in meeting week",
                ],
                "units_before": [60000, 52000, 40000, 36000, 32000, 31997],
                "units_removed": [8000, 12000, 4000, 4000, 3, 1997],
                "units_after": [52000, 40000, 36000, 32000, 31997, 30000],
            }
        )
        .with_columns(
            pl.int_range(1, 7, dtype=pl.Int32).alias("step"),
            # the final step's meetings by form (assets/treatment/logic.py: null on the other steps)
            *[
                pl.when(pl.col("rule") == "R6").then(v).otherwise(None).cast(pl.Int64).alias(c)
                for c, v in zip(FLOW_FORM_COLUMNS, (12000, 15000, 2990, 10), strict=True)
            ],
        )
        .select("step", pl.exclude("step"))
    )
    n = rng.integers(2000, 4000, len(months))
    n_dig = (n * rng.uniform(0.3, 0.9, len(months))).astype(int)
    n_dig[-1] = n[-1] - 3  # near-100% digital month: 3 in person
    share_month = _with_forms(
        pl.DataFrame(
            {"calendar_month": months, "n_meetings": n, "n_digital": n_dig, "digital_share": n_dig / n}
        )
    )
    rows = []
    for k in (101, 147, 461, 751, 851):
        for m in months:
            nn = int(rng.integers(40, 300))
            nd = int(nn * rng.uniform(0.2, 0.95))
            rows.append((k, m, nn, nd))
    rows[3] = (101, months[3], 4, 2)  # a small municipality-month
    share_muni = _with_forms(
        pl.DataFrame(
            rows, schema=["kommune", "calendar_month", "n_meetings", "n_digital"], orient="row"
        ).with_columns(
            pl.col("kommune").cast(pl.Int32),
            (pl.col("n_digital") / pl.col("n_meetings")).alias("digital_share"),
        )
    )
    est_rows = []
    for o in OUTCOMES:
        for d in DESIGNS:
            exit_ = o.startswith("y_")
            e = (0.012 if exit_ else -0.45) + rng.normal(0, 0.003 if exit_ else 0.1)
            se = 0.006 if exit_ else 0.2
            est_rows.append(
                {
                    "outcome": o,
                    "design": d,
                    "model": "IRM" if d.startswith("irm") else d.upper(),
                    "score": "ATTE" if d == "irm_att" else "ATE",
                    "estimate": e,
                    "se": se,
                    "ci_low": e - 1.96 * se,
                    "ci_high": e + 1.96 * se,
                    "p_value": 0.04,
                    "n": 29000,
                    "n_treated": 18000,
                    "n_trimmed": 3 if (o, d) == ("y_exit_4w", "irm_ate") else 900,
                    "n_missing_outcome": 100,
                    "n_missing_instrument": 0,
                    "n_persons": 12000,
                    "cluster": "pnr",
                    "learner": "lgbm",
                    "folds": 5,
                    "reps": 1,
                    "seed": 20200501,
                }
            )
    modality, potential, by_arm = _modality_tables()
    estimates = _as_written(pl.concat([pl.DataFrame(est_rows), modality], how="diagonal_relaxed"))
    bins = np.linspace(0, 1, 11)
    ov = []
    for o in OUTCOMES[:2]:
        for d in ("irm_att", "irm_ate"):
            for lo, hi in zip(bins[:-1], bins[1:], strict=True):
                ov.append(
                    {
                        "outcome": o,
                        "design": d,
                        "bin_low": float(lo),
                        "bin_high": float(hi),
                        "n_treated": int(3 if lo == 0 else 1000 * hi),
                        "n_control": int(2000 * (1 - lo)),
                    }
                )
    overlap = pl.DataFrame(ov)
    covs = [
        "age",
        "sex",
        "education_level",
        "benefit_weeks_52",
        "benefit_weeks_104",
        "income_prev_year",
        "elapsed_weeks",
        "kommune_benefit_share",
    ]
    balance = pl.DataFrame(
        [
            {
                "outcome": o,
                "design": "irm_att",
                "covariate": c,
                "smd_before": float(rng.normal(0, 0.2)),
                "smd_after": float(rng.normal(0, 0.03)),
            }
            for o in OUTCOMES[:2]
            for c in covs
        ]
    )
    sens = []
    for o in OUTCOMES[:2]:
        for d in ("irm_att", "irm_ate"):
            theta = 0.012
            S = 0.3
            for cf_y, cf_d, bm in ((0.03, 0.03, None), (0.02, 0.05, "benefit history")):
                cs = np.sqrt(cf_y * cf_d / (1 - cf_d))
                sens.append(
                    {
                        "outcome": o,
                        "design": d,
                        "cf_y": cf_y,
                        "cf_d": cf_d,
                        "rho": 1.0,
                        "theta": theta,
                        "theta_lower": theta - cs * S,
                        "theta_upper": theta + cs * S,
                        "ci_lower": theta - cs * S - 0.01,
                        "ci_upper": theta + cs * S + 0.01,
                        "rv": 0.039,
                        "rva": 0.012,
                        "benchmark": bm,
                    }
                )
    sensitivity = pl.DataFrame(sens)
    ge = []
    for o in OUTCOMES[:2]:
        for gv, groups in (
            ("sex", {"M": 15000, "K": 14000}),
            ("age_band", {"16-29": 9000, "30-49": 16000, "50-66": 3996, "67+": 4}),
        ):
            for g, nn in groups.items():
                e = 0.01 + rng.normal(0, 0.004)
                ge.append(
                    {
                        "outcome": o,
                        "design": "irm_att",
                        "group_var": gv,
                        "group": g,
                        "estimate": e,
                        "se": 0.008,
                        "ci_low": e - 0.016,
                        "ci_high": e + 0.016,
                        "n": nn,
                        "n_treated": int(nn * 0.6),
                        "n_control": nn - int(nn * 0.6),
                        "reason": None,
                    }
                )
    # benefit-group effects of the value table's cell (weeks of self-support within 52 weeks, IRM-ATT)
    for g, e, se, nn in (("dagpenge", -0.40, 0.25, 20000), ("kontanthjaelp_jobparat", -0.60, 0.5, 9000)):
        ge.append({"outcome": "weeks_selfsupport_52w", "design": "irm_att", "group_var": "benefit_group",
                   "group": g, "estimate": e, "se": se, "ci_low": e - 1.96 * se, "ci_high": e + 1.96 * se,
                   "n": nn, "n_treated": int(nn * 0.6), "n_control": nn - int(nn * 0.6), "reason": None})  # fmt: skip
    group_effects = pl.DataFrame(ge, schema_overrides={"reason": pl.String})
    placebos = pl.DataFrame(
        {
            "kind": ["pre_period_outcome", "permuted_treatment"],
            "outcome": ["weeks_selfsupport_pre52w", "y_exit_13w"],
            "design": ["irm_att", "irm_att"],
            "contrast": pl.Series([None, None], dtype=pl.String),  # part of the key: a binary design's
            "estimate": [0.05, 0.0004],
            "se": [0.1, 0.004],
            "ci_low": [-0.146, -0.0074],
            "ci_high": [0.246, 0.0082],
            "p_value": [0.6, 0.9],
            "n": [29000, 29000],
        }
    )
    power = pl.DataFrame(
        [
            {
                "outcome": o,
                "trial_size": t,
                "baseline_mean": 0.3 if o.startswith("y_") else 10.0,
                "sd": 0.46 if o.startswith("y_") else 8.0,
                "mde": 2.8 * (0.46 if o.startswith("y_") else 8.0) * np.sqrt(4 / t),
            }
            for o in OUTCOMES
            for t in (2000, 5000, 10000, 20000, 50000)
        ]
    )
    nuisance = pl.DataFrame(
        [
            {
                "outcome": o,
                "design": d,
                "learner": "lgbm",
                "nuisance": nu,
                "metric": "logloss" if nu == "ml_m" or o.startswith("y_") else "rmse",
                "loss": 0.4,
            }
            for o in OUTCOMES[:2]
            for d in ("irm_att", "irm_ate")
            for nu in ("ml_g0", "ml_g1", "ml_m")
        ]
    )
    manifest = pl.DataFrame(
        {
            "file": ["dream.parquet", "bef202012.parquet"],
            "register": ["dream", "bef"],
            "sha256": ["a" * 64, "b" * 64],
        }
    )
    return {
        "treatment/sample_flow.parquet": flow,
        "analysis/digital_share_by_month.parquet": share_month,
        "analysis/digital_share_by_kommune_month.parquet": share_muni,
        "estimation/estimates.parquet": estimates,
        "estimation/overlap.parquet": overlap,
        "estimation/balance.parquet": balance,
        "estimation/sensitivity.parquet": sensitivity,
        "estimation/group_effects.parquet": group_effects,
        "estimation/placebos.parquet": placebos,
        "estimation/power.parquet": power,
        "estimation/nuisance_losses.parquet": nuisance,
        "estimation/value.parquet": _value_table(estimates, group_effects),
        "estimation/feasibility.parquet": _fake_feasibility(
            estimates.filter(pl.col("design") != "modality"), rng
        ),
        "estimation/potential_outcomes.parquet": potential,
        "estimation/overlap_by_arm.parquet": by_arm,
        "raw/delivery_manifest.parquet": manifest,
    }


def _with_forms(share: pl.DataFrame) -> pl.DataFrame:
    """A digital-share table with the meeting forms as assets/treatment/logic.py counts them: the digital
    meetings split into telephone and (about a tenth) video, every meeting with a form (n_no_form 0)."""
    video = (pl.col("n_digital") // 10).cast(pl.Int64)
    return share.with_columns(
        (pl.col("n_meetings") - pl.col("n_digital")).cast(pl.Int64).alias("n_in_person"),
        (pl.col("n_digital") - video).cast(pl.Int64).alias("n_telephone"),
        video.alias("n_video"),
        pl.lit(0, dtype=pl.Int64).alias("n_no_form"),
    ).with_columns(
        (pl.col("n_telephone") / pl.col("n_meetings")).alias("share_telephone"),
        (pl.col("n_video") / pl.col("n_meetings")).alias("share_video"),
    )


def _as_written(est: pl.DataFrame) -> pl.DataFrame:
    """The estimates with every column the estimation stage writes (ESTIMATE_COLUMNS, in its order); the
    columns of other designs (PLIV's first stage, the modality contrast) null."""
    from assets.estimation.logic import ESTIMATE_COLUMNS, IV_SCHEMA

    floats = {"seconds", "rep_spread", *[c for c, t in IV_SCHEMA.items() if t == pl.Float64]}
    return est.with_columns(
        (pl.col("n") - pl.col("n_treated")).alias("n_control"),
        *[
            pl.lit(
                None, dtype=pl.Float64 if c in floats else pl.Int64 if c.startswith("n_") else pl.String
            ).alias(c)
            for c in ESTIMATE_COLUMNS
            if c not in est.columns and c != "n_control"
        ],
    ).select(ESTIMATE_COLUMNS)


def _modality_tables() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """The modality design's rows of the estimates (one per contrast), its potential outcomes by form and
    the generalized propensity by arm (models/apos.py), for two outcomes."""
    arms = {"in_person": (12000, 40), "telephone": (14000, 60), "video": (2900, 8)}
    pairs = (("telephone", "in_person"), ("video", "in_person"), ("video", "telephone"))
    est, po, ov = [], [], []
    for k, o in enumerate(OUTCOMES[:2]):
        for j, (lvl, ref) in enumerate(pairs):
            e = -0.004 + 0.004 * j + 0.001 * k
            est.append({"outcome": o, "design": "modality", "contrast": f"{lvl}_vs_{ref}", "model": "APOS",
                        "score": "ATE", "estimate": e, "se": 0.004, "ci_low": e - 0.00784, "ci_high": e + 0.00784,
                        "p_value": 0.3, "n": arms[lvl][0] + arms[ref][0], "n_treated": arms[lvl][0],
                        "n_trimmed": arms[lvl][1] + arms[ref][1], "n_missing_outcome": 0, "n_missing_instrument": 0,
                        "n_persons": 12000, "cluster": "pnr", "learner": "lgbm", "folds": 5, "reps": 1,
                        "seed": 20200501})  # fmt: skip
        for lvl, (n, trimmed) in arms.items():
            po.append({"outcome": o, "design": "modality", "level": lvl, "estimate": 0.3, "se": 0.01,
                       "ci_low": 0.28, "ci_high": 0.32, "n": n, "n_trimmed": trimmed,
                       "propensity_min": 0.02, "propensity_max": 0.9})  # fmt: skip
            for form in arms:
                p = 0.5 if form == lvl else 0.25
                ov.append({"outcome": o, "design": "modality", "form": form, "arm": lvl, "n": n + trimmed,
                           "min": p / 10, "p05": p / 2, "p25": p * 0.8, "p50": p, "p75": p * 1.2, "p95": p * 1.5,
                           "max": min(1.0, p * 1.8)})  # fmt: skip
    return pl.DataFrame(est), pl.DataFrame(po), pl.DataFrame(ov)


def _value_table(estimates: pl.DataFrame, group_effects: pl.DataFrame) -> pl.DataFrame:
    """estimation/value.parquet as the meeting_value asset writes it, from the default configuration."""
    from data_contracts.config import ValueConfig
    from models.value import effects_from_estimates, value_table

    v = ValueConfig()
    overall, groups = effects_from_estimates(estimates, group_effects, v.outcome, v.design)
    return value_table(v, overall, groups)


def _fake_feasibility(estimates: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """``feasibility.parquet`` from the fake estimates and a small fake analysis table (the real arithmetic)."""
    from models.feasibility import feasibility_table

    n = 3000
    table = pl.DataFrame({
        "kommune": rng.integers(0, 30, n), "calendar_month": rng.integers(0, 10, n),
        "digital": (rng.random(n) < 0.9).astype(np.int8),
        **{o: (rng.random(n) < 0.4).astype(float) if o.startswith("y_") else rng.normal(10, 8, n) for o in OUTCOMES},
    })  # fmt: skip
    est = estimates.with_columns(pl.lit(None, dtype=pl.Float64).alias("ess_treated"))
    return feasibility_table(est, table, "digital", ("kommune", "calendar_month"), 0.01)


def write_fake_run(work_dir: str | Path, seed: int = 1, skip: tuple[str, ...] = ()) -> Path:
    """Write the fake tables under ``work_dir`` (a run folder); ``skip`` names relative paths to leave out."""
    w = Path(work_dir)
    for rel, df in fake_tables(seed).items():
        if rel in skip:
            continue
        p = w / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        df.write_parquet(p)
    return w


def write_fake_truth(path: str | Path) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(TRUTH, indent=2), encoding="utf-8")
    return p
