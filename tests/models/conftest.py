"""Seeded fixtures for the estimation tests: a small register-shaped table with known effects."""

from __future__ import annotations

import os

import numpy as np
import polars as pl
import pytest

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
    return df.with_columns(
        pl.when(pl.Series(miss)).then(None).otherwise(pl.col("y_exit_13w")).alias("y_exit_13w")
    )


def make_dictionary(table: pl.DataFrame) -> pl.DataFrame:
    roles = {"pnr": "id", "kommune": "design", "calendar_month": "design", "benefit_group": "design",
             "digital": "treatment", "y_exit_13w": "outcome", "weeks_selfsupport_26w": "outcome",
             "weeks_selfsupport_pre52w": "outcome", "first_in_spell": "flag"}  # fmt: skip
    rows = [{"name": c, "role": roles.get(c, "covariate"), "dtype": str(table.schema[c]), "definition": c,
             "source_registers": "synthetic", "time_window": "-"} for c in table.columns]  # fmt: skip
    return pl.DataFrame(rows)


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
