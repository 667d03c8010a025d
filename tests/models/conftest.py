"""Seeded fixtures for the estimation tests: a small register-shaped table with known effects."""

from __future__ import annotations

import os

import numpy as np
import polars as pl
import pytest

from assets.contracts import contract_frame
from data_contracts.tables import COLUMN_DICTIONARY

os.environ.setdefault(
    "REGDML_VALIDATION_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "validation")
)

TRUE_EFFECT = -2.0  # weeks_selfsupport_26w: constant additive effect of digital
COVARIATES = [
    "age",
    "sex_woman",
    "education_level",
    "benefit_weeks_pre_spell_52w",
    "benefit_weeks_pre_spell_104w",
    "elapsed_weeks",
    "x_noise",
]


def make_register_table(n_persons: int = 1500, seed: int = 1, effect: float = TRUE_EFFECT) -> pl.DataFrame:
    """One row per meeting; 1-3 meetings per person; confounding through the benefit history.

    digital is more likely with a long benefit history and in 'digital' municipality-months; a long history
    lowers the outcomes. weeks_selfsupport_26w has a constant additive effect ``effect``; y_exit_13w is
    binary; weeks_selfsupport_pre52w is unaffected (placebo); a few outcomes are missing.
    """
    rng = np.random.default_rng(seed)
    k = rng.integers(1, 4, n_persons)
    pnr = np.repeat(np.arange(n_persons), k)
    n = pnr.size
    age = np.repeat(rng.integers(18, 66, n_persons), k)
    sex_woman = np.repeat(rng.integers(0, 2, n_persons), k)
    edu = np.repeat(rng.integers(1, 8, n_persons), k)
    bw52 = np.repeat(rng.integers(0, 53, n_persons), k)
    bw104 = np.minimum(104, bw52 + np.repeat(rng.integers(0, 53, n_persons), k))
    elapsed = rng.integers(1, 60, n)
    kommune = rng.choice([101, 147, 151, 153, 155, 157, 159, 161], n)
    month = rng.choice([f"2020-{m:02d}" for m in range(5, 13)], n)
    practice = {
        km: v
        for km, v in zip(
            sorted({(a, b) for a, b in zip(kommune, month, strict=True)}),
            rng.normal(0, 0.8, 10_000),
            strict=False,
        )
    }
    prac = np.array([practice[(a, b)] for a, b in zip(kommune, month, strict=True)])
    lin = -0.3 + 0.05 * (bw52 - 26) + 0.6 * prac + 0.3 * sex_woman
    digital = (rng.random(n) < 1 / (1 + np.exp(-lin))).astype(np.int8)
    base = 14 - 0.2 * (bw52 - 26) - 0.05 * (bw104 - 52) + 0.3 * edu - 0.05 * np.abs(age - 40)
    y26 = base + effect * digital + rng.normal(0, 3, n)
    y13 = (rng.random(n) < 1 / (1 + np.exp(-(0.2 - 0.06 * (bw52 - 26) + 0.4 * digital)))).astype(float)
    pre = 20 - 0.3 * (bw52 - 26) + rng.normal(0, 3, n)
    df = pl.DataFrame({
        "pnr": pnr.astype(str), "kommune": kommune.astype(np.int32), "calendar_month": month,
        "benefit_group": np.where(bw52 > 26, "dagpenge", "kontanthjaelp_jobparat"), "digital": digital,
        "y_exit_13w": y13, "weeks_selfsupport_26w": y26, "weeks_selfsupport_pre52w": pre,
        "age": age, "sex_woman": sex_woman, "education_level": edu, "benefit_weeks_pre_spell_52w": bw52,
        "benefit_weeks_pre_spell_104w": bw104, "elapsed_weeks": elapsed, "x_noise": rng.normal(size=n),
    })  # fmt: skip
    # the secondary unit's flag: a person's first row (the rows of one person are one spell here)
    first = np.r_[True, pnr[1:] != pnr[:-1]].astype(np.int8)
    df = df.with_columns(pl.Series("first_in_spell", first))
    miss = rng.random(n) < 0.03
    # the three-arm form (modality design): a digital meeting is a telephone call or a video meeting; its
    # own generator, so every other draw above is unchanged
    video = np.random.default_rng([seed, 21]).random(n) < 0.5
    form = np.where(digital == 0, "in_person", np.where(video, "video", "telephone"))
    df = df.with_columns(pl.Series("meeting_form", form))
    return df.with_columns(
        pl.when(pl.Series(miss)).then(None).otherwise(pl.col("y_exit_13w")).alias("y_exit_13w")
    )


def make_dictionary(table: pl.DataFrame) -> pl.DataFrame:
    """The column dictionary of ``table``: each column's role from the analysis table's contract
    (data_contracts/tables.py; its key is the dictionary's id), and covariate for the fixture's own columns."""
    from data_contracts.tables import ANALYSIS_TABLE, DICTIONARY_ROLE

    def role(c: str) -> str:
        r = ANALYSIS_TABLE.role(c)
        return "covariate" if r is None else DICTIONARY_ROLE.get(r, r)

    rows = [{"name": c, "role": role(c), "dtype": str(table.schema[c]), "definition": c,
             "source_registers": "synthetic", "time_window": "-"} for c in table.columns]  # fmt: skip
    return contract_frame(COLUMN_DICTIONARY, {k: [r[k] for r in rows] for k in rows[0]})


IMBALANCED_ATT = 2.0
IMBALANCED_X = ["x1", "x2", "x3", "x4", "married", "earnings"]


def make_imbalanced_table(n: int = 15200, seed: int = 3, att: float = IMBALANCED_ATT) -> pl.DataFrame:
    """About 1.4% treated among ~15,000 controls, one row per person, float32 covariates, a known ATT.

    Shaped like the job-training evaluations of observational controls: a rare treatment selected on the
    covariates (logit propensity around logit(0.014), true propensity below 0.01 for about 13% of the
    controls) and an outcome that depends strongly on the same covariates (the naive difference is biased
    by several standard errors). The effect is constant, so the ATT is ``att`` whatever is trimmed.
    """
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    married = (rng.random(n) < 0.5).astype(np.float32)
    earnings = np.exp(rng.normal(1.0, 0.8, n)) * (rng.random(n) < 0.8)
    lin = -4.2 + 0.25 * x[:, 0] - 0.15 * x[:, 1] + 0.1 * married - 0.03 * earnings
    d = (rng.random(n) < 1 / (1 + np.exp(-lin))).astype(np.int8)
    y = 6 * x[:, 0] + 2 * np.sin(x[:, 1]) + 0.5 * earnings + married + att * d + rng.normal(0, 3, n)
    return pl.DataFrame({
        "pnr": np.arange(n), "treated": d, "y": y, "x1": x[:, 0], "x2": x[:, 1], "x3": x[:, 2], "x4": x[:, 3],
        "married": married, "earnings": earnings,
    }).with_columns(pl.col(c).cast(pl.Float32) for c in IMBALANCED_X)  # fmt: skip


def make_collinear_float32_table(n: int = 16000, seed: int = 11) -> tuple[pl.DataFrame, list[str]]:
    """A float32 job-training-shaped table with nearly collinear columns (age, its square and cube;
    earnings in two years and their zero indicators; education and its square). With this seed,
    scikit-learn's LassoCV on the standardised float32 matrix fails its check of the precomputed Gram
    matrix ("Gram matrix passed in via 'precompute' parameter did not pass validation")."""
    rng = np.random.default_rng(seed)
    age = rng.integers(17, 56, n).astype(float)
    educ = rng.integers(0, 18, n).astype(float)
    re74 = np.exp(rng.normal(9.5, 0.8, n)) * (rng.random(n) < 0.85)
    re75 = re74 * np.exp(rng.normal(0, 0.2, n)) * (rng.random(n) < 0.95)
    cols = {
        "age": age, "age2": age**2, "age3": age**3, "educ": educ, "educ2": educ**2,
        "black": (rng.random(n) < 0.07).astype(float), "hisp": (rng.random(n) < 0.07).astype(float),
        "married": (rng.random(n) < 0.7).astype(float), "nodegree": (educ < 12).astype(float),
        "re74": re74, "re75": re75, "u74": (re74 == 0).astype(float), "u75": (re75 == 0).astype(float),
        "educ_re74": educ * re74,
    }  # fmt: skip
    y = re75 + 1000 * educ + rng.normal(0, 5000, n)
    d = (rng.random(n) < 1 / (1 + np.exp(-(-1.0 + 0.05 * (educ - 10))))).astype(np.int8)
    frame = pl.DataFrame(
        {
            "re78": y + 800.0 * d.astype(float),
            "treat": d,
            **{k: v.astype(np.float32) for k, v in cols.items()},
        }
    )
    return frame, list(cols)


@pytest.fixture(scope="session")
def imbalanced_table() -> pl.DataFrame:
    """:func:`make_imbalanced_table`: covariates ``IMBALANCED_X``, true ATT ``IMBALANCED_ATT``."""
    return make_imbalanced_table()


@pytest.fixture(scope="session")
def imbalanced_design() -> tuple[float, list[str]]:
    """(true ATT, covariates) of ``imbalanced_table``."""
    return IMBALANCED_ATT, list(IMBALANCED_X)


@pytest.fixture(scope="session")
def collinear_float32_table() -> tuple[pl.DataFrame, list[str]]:
    return make_collinear_float32_table()


@pytest.fixture(scope="session")
def register_table() -> pl.DataFrame:
    return make_register_table()


@pytest.fixture(scope="session")
def fast_spec_kwargs() -> dict:
    return dict(n_folds=3, n_reps=1, n_estimators=60, seed=7)


@pytest.fixture(scope="session")
def covariates() -> list[str]:
    return list(COVARIATES)


@pytest.fixture(scope="session")
def table_factory():
    return make_register_table


@pytest.fixture(scope="session")
def dictionary_factory():
    return make_dictionary


@pytest.fixture(scope="session")
def unit_table(table_factory):
    """500 persons' analysis table with a second outcome, ``y_late``, missing on other rows than
    y_exit_13w's (every 7th row), as horizons differ: the propensity on the whole unit then differs from
    each outcome's rows (propensity_rows='unit')."""
    t = table_factory(n_persons=500, seed=8)
    rows = pl.int_range(pl.len())
    return t.with_columns(
        pl.when(rows % 7 == 3).then(None).otherwise(pl.col("weeks_selfsupport_26w")).alias("y_late")
    )
