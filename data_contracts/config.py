"""Run configuration: one YAML file with the analysis plan's defaults, validated into a frozen model.

The configuration in force is stored with every output (:meth:`RunConfig.to_yaml`) and its hash
(:attr:`RunConfig.sha256`) is part of every output's data version.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

DEFAULT_CONFIG_PATH = Path(__file__).with_name("default_config.yaml")

REGISTERS = (
    "bef",
    "udda",
    "ind",
    "akm",
    "akasse",
    "dream",
    "samtaler",
    "kontaktform_validering",
    "befolkning_kommune",
)
# Registers a delivery may lack: befolkning_kommune (aggregate population by municipality, for the local
# labour market's denominator) is public and not part of a DST project's extract.
OPTIONAL_REGISTERS = ("befolkning_kommune",)


# Propensity trimming keeps the units whose propensity lies in [low, high]: the interval must contain 0.5,
# or trimming would remove one treatment arm's typical units (and every IRM cell would fail).
TRIM_RULE = "0 <= low < 0.5 < high <= 1"


def trim_is_valid(low: float, high: float) -> bool:
    """The estimation's rule for the trimming interval (:data:`TRIM_RULE`)."""
    return 0.0 <= low < 0.5 < high <= 1.0


class ConfigError(ValueError):
    """A run configuration that does not validate; the message names the key and the value."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CohortConfig(_Frozen):
    window_start: dt.date = dt.date(2020, 5, 1)
    window_end: dt.date = dt.date(2021, 2, 28)
    target_groups: tuple[str, ...] = ("dagpenge", "kontanthjaelp_jobparat")
    meeting_types: tuple[str, ...] = ("jobsamtale",)
    actors: tuple[str, ...] = ("JC",)
    treated_category: str = "digital"
    control_category: str = "in_person"
    require_confirmed: bool = True

    @model_validator(mode="after")
    def _window(self) -> CohortConfig:
        if self.window_end < self.window_start:
            raise ValueError(
                f"cohort.window_end ({self.window_end}) is before cohort.window_start ({self.window_start})"
            )
        if self.treated_category == self.control_category:
            raise ValueError("cohort.treated_category and cohort.control_category must differ")
        return self


class OutcomeConfig(_Frozen):
    exit_horizons: tuple[int, ...] = (4, 13, 26, 52)
    selfsupport_horizons: tuple[int, ...] = (26, 52)
    placebo_weeks: int = Field(52, ge=1, le=520)
    employment_benefit_free_weeks: int = Field(4, ge=1, le=52)
    employment_min_grad: int = Field(0, ge=0, lt=100)

    @field_validator("exit_horizons", "selfsupport_horizons")
    @classmethod
    def _positive(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if not v or any(k < 1 or k > 520 for k in v):
            raise ValueError(f"horizons must be weeks in 1..520, got {list(v)}")
        return tuple(sorted(set(v)))


FINAL_MIN_REPS = 5


class EstimationConfig(_Frozen):
    primary_outcomes: tuple[str, ...] = (
        "y_exit_4w",
        "y_exit_13w",
        "y_exit_26w",
        "y_exit_52w",
        "weeks_selfsupport_26w",
        "weeks_selfsupport_52w",
    )
    placebo_outcomes: tuple[str, ...] = (
        "weeks_selfsupport_pre52w",
        "wage_income_2y_before",
        "y_exit_13w_pseudo",
    )
    designs: tuple[
        Literal["irm_att", "irm_ate", "plr", "pliv", "naive", "irm_att_first", "modality"], ...
    ] = (
        "irm_att",
        "irm_ate",
        "plr",
        "pliv",
        "naive",
        "irm_att_first",
        "modality",
    )
    learner: Literal["auto", "lgbm", "lasso", "rf"] = "auto"
    n_folds: int = Field(5, ge=2, le=20)
    n_reps: int = Field(1, ge=1, le=100)
    seed: int = 20200501
    trim: tuple[float, float] = (0.01, 0.99)
    cluster: Literal["person", "person_and_kommune"] = "person"
    lgbm_n_estimators: int = Field(200, ge=10, le=5000)
    lgbm_num_threads: int = Field(1, ge=1, le=64)
    group_effects: tuple[str, ...] = ("benefit_group", "age_band", "sex", "education_level")
    trial_sizes: tuple[int, ...] = (2000, 5000, 10000, 20000, 50000)
    # PLIV's split-sample instrument: fewest meetings of the other half in a kommune x month cell
    instrument_min_other: int = Field(1, ge=1, le=1000)
    # A final run (the plan's: at least FINAL_MIN_REPS repetitions); a run that is not final is exploratory.
    final: bool = False
    # Shared nuisance fits (models/nuisance_cache.py): a nuisance several cells need (the propensity for every
    # outcome with the same sample, IRM-ATT's outcome models for IRM-ATE) is fitted once and read by the
    # others, from <work>/cache/nuisance. Identical results; false fits every cell on its own.
    share_fits: bool = True
    # IRM and PLR: the propensity (treatment given covariates, no outcome in it) fitted on every meeting of
    # the cell's unit, those whose outcome horizon runs past the data included, with person folds drawn on
    # all of them ('unit'); or on each outcome's own rows ('outcome'). 'unit' fits it once for every
    # outcome (docs/estimation.md, "The propensity on the whole unit").
    propensity_rows: Literal["unit", "outcome"] = "unit"

    @model_validator(mode="after")
    def _final_needs_reps(self) -> EstimationConfig:
        if self.final and self.n_reps < FINAL_MIN_REPS:
            raise ValueError(
                f"estimation.final is true but estimation.n_reps = {self.n_reps}: a final run needs "
                f"estimation.n_reps >= {FINAL_MIN_REPS} (set n_reps, or drop final for an exploratory run)"
            )
        return self

    @property
    def exploratory(self) -> bool:
        """Fewer repetitions than a final run needs: results are marked exploratory."""
        return self.n_reps < FINAL_MIN_REPS

    # Feasibility verdict (models/feasibility.py): the effect size that matters, as a share (low, high), on
    # the outcome the question is about
    feasibility_outcome: str = "y_exit_26w"
    feasibility_effect: tuple[float, float] = (0.01, 0.02)

    @field_validator("feasibility_effect")
    @classmethod
    def _feasibility_effect(cls, v: tuple[float, float]) -> tuple[float, float]:
        lo, hi = v
        if not (0.0 < lo <= hi):
            raise ValueError(f"estimation.feasibility_effect must satisfy 0 < low <= high, got {list(v)}")
        return v

    @field_validator("trim")
    @classmethod
    def _trim(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not trim_is_valid(*v):  # the estimation's own rule (models/_checks.py uses the same function)
            raise ValueError(f"estimation.trim must satisfy {TRIM_RULE}, got {list(v)}")
        return v


class CovariateConfig(_Frozen):
    # The local labour market's denominator is the municipality's whole population aged 16-66. Without a
    # delivered befolkning_kommune, BEF may serve only when it holds whole municipalities; the registers
    # cannot tell that (a project's BEF is cut to its own population), so the researcher says so here.
    bef_covers_municipalities: bool = False


class DisclosureConfig(_Frozen):
    min_cell: int = Field(5, ge=3, le=100)


# The benefit groups of the cohort (cohort.target_groups) and their default weekly benefit and annual
# number of jobsamtaler nationally; their sources and years are value.sources of default_config.yaml.
_VALUE_WEEKLY_BENEFIT = {"dagpenge": 4459.0, "kontanthjaelp_jobparat": 2700.0}
_VALUE_ANNUAL_JOBSAMTALER = {"dagpenge": 784_000, "kontanthjaelp_jobparat": 125_000}
VALUE_SOURCE_KINDS = {
    "public": "Public figure",
    "derived": "Derived from public figures",
    "estimate": "Project estimate, no public source found; change it",
}


class ValueSource(_Frozen):
    """Where a number of the value section comes from: declared once, in default_config.yaml."""

    source: str = Field(min_length=1)
    year: int = Field(ge=1990, le=2100)
    kind: Literal["public", "derived", "estimate"]
    urls: tuple[str, ...] = ()

    @field_validator("source")
    @classmethod
    def _text(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("a source must say where the number comes from; got blank text")
        return v.strip()


def _default_value_sources() -> dict[str, ValueSource]:
    # the sources are prose with figures: written once, in the YAML, so that the configuration, the report
    # and docs/value.md cannot disagree (a test checks the docs against them)
    data = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))
    return {k: ValueSource.model_validate(v) for k, v in data["value"]["sources"].items()}


_VALUE_SOURCES = _default_value_sources()


class ValueConfig(_Frozen):
    """What a digital meeting is worth (models/value.py): every number is a changeable assumption."""

    staff_minutes_saved: float = Field(15.0, ge=0, le=480, allow_inf_nan=False)
    staff_cost_per_hour_dkk: float = Field(400.0, gt=0, le=100_000, allow_inf_nan=False)
    weekly_benefit_dkk: dict[str, float] = Field(default_factory=lambda: dict(_VALUE_WEEKLY_BENEFIT))
    annual_jobsamtaler: dict[str, int] = Field(default_factory=lambda: dict(_VALUE_ANNUAL_JOBSAMTALER))
    outcome: str = "weeks_selfsupport_52w"
    # the naive difference in means is not an effect, so it cannot be valued
    design: Literal["irm_att", "irm_ate", "plr", "pliv"] = "irm_att"
    # keys: staff_minutes_saved, staff_cost_per_hour_dkk, weekly_benefit_dkk.<group>,
    # annual_jobsamtaler.<group>; an input without an entry is reported as having no source
    sources: dict[str, ValueSource] = Field(default_factory=lambda: dict(_VALUE_SOURCES))

    @field_validator("weekly_benefit_dkk")
    @classmethod
    def _benefits(cls, v: dict[str, float]) -> dict[str, float]:
        if not v:
            raise ValueError("value.weekly_benefit_dkk needs a weekly benefit for at least one benefit group")
        bad = {g: b for g, b in v.items() if not (0 < b < float("inf"))}
        if bad:
            raise ValueError(f"value.weekly_benefit_dkk must be positive kroner per week; got {bad}")
        if "all" in v:
            raise ValueError("value.weekly_benefit_dkk: 'all' is the weighted row, not a benefit group")
        return v

    @field_validator("annual_jobsamtaler")
    @classmethod
    def _counts(cls, v: dict[str, int]) -> dict[str, int]:
        bad = {g: n for g, n in v.items() if n < 0}
        if bad:
            raise ValueError(f"value.annual_jobsamtaler must be counts of meetings (>= 0); got {bad}")
        if v and sum(v.values()) == 0:
            raise ValueError("value.annual_jobsamtaler: the counts add up to 0, so nothing can be weighted")
        return v

    @field_validator("outcome")
    @classmethod
    def _outcome(cls, v: str) -> str:
        # the value is computed per week of self-support: only a weeks outcome has that unit
        if not re.fullmatch(r"weeks_selfsupport_\d+w", v):
            raise ValueError(
                f"value.outcome must be a weeks-of-self-support outcome (weeks_selfsupport_<k>w); got {v!r}"
            )
        return v

    @model_validator(mode="after")
    def _same_groups(self) -> ValueConfig:
        b, n = set(self.weekly_benefit_dkk), set(self.annual_jobsamtaler)
        if b != n:
            raise ValueError(
                "value.weekly_benefit_dkk and value.annual_jobsamtaler must name the same benefit groups; "
                f"only in weekly_benefit_dkk: {sorted(b - n)}, only in annual_jobsamtaler: {sorted(n - b)}"
            )
        return self

    def source_keys(self) -> list[str]:
        """The inputs that take a source, in the report's order."""
        return [
            "staff_minutes_saved",
            "staff_cost_per_hour_dkk",
            *(f"weekly_benefit_dkk.{g}" for g in self.weekly_benefit_dkk),
            *(f"annual_jobsamtaler.{g}" for g in self.annual_jobsamtaler),
        ]

    @model_validator(mode="after")
    def _known_sources(self) -> ValueConfig:
        # a misspelt key would leave its input without a source and the entry unused
        unknown = sorted(set(self.sources) - set(self.source_keys()))
        if unknown:
            raise ValueError(f"value.sources names no input of the value section: {unknown}; "
                             f"the inputs are {self.source_keys()}")  # fmt: skip
        return self


class RunConfig(_Frozen):
    """The whole run configuration. Build it with :func:`load_config`."""

    codebook: Path | None = None
    file_patterns: dict[str, str] = Field(default_factory=dict)
    cohort: CohortConfig = CohortConfig()
    outcomes: OutcomeConfig = OutcomeConfig()
    estimation: EstimationConfig = EstimationConfig()
    covariates: CovariateConfig = CovariateConfig()
    disclosure: DisclosureConfig = DisclosureConfig()
    value: ValueConfig = ValueConfig()

    @field_validator("file_patterns")
    @classmethod
    def _patterns(cls, v: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(v) - set(REGISTERS))
        if unknown:
            raise ValueError(f"file_patterns: unknown register(s) {unknown}; known are {list(REGISTERS)}")
        missing = sorted(set(REGISTERS) - set(v))
        if missing:
            raise ValueError(f"file_patterns: missing pattern(s) for {missing}")
        for name, pat in v.items():
            try:
                re.compile(pat)
            except re.error as e:
                raise ValueError(f"file_patterns.{name}: {pat!r} is not a regular expression ({e})") from e
        return v

    def to_yaml(self) -> str:
        """The configuration in force, as YAML (stored beside every output)."""
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=True, allow_unicode=True)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.to_yaml().encode("utf-8")).hexdigest()

    def codebook_obj(self):  # -> Codebook; import here to keep the module light
        from data_contracts.codebook import load_codebook

        return load_codebook(self.codebook)


def _format_validation_error(source: str, err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        key = ".".join(str(x) for x in e["loc"]) or "(top level)"
        val = e.get("input")
        if e["type"] == "extra_forbidden":
            lines.append(f"{source}: unknown key '{key}'")
        elif isinstance(val, dict):  # a rule across keys of a section: its message names the keys
            lines.append(f"{source}: {str(e['msg']).removeprefix('Value error, ')}")
        else:
            lines.append(f"{source}: key '{key}' = {val!r}: {e['msg']}")
    return "; ".join(lines)


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = v
    return out


# Mappings whose entries a user's configuration replaces whole instead of merging into: a source given for
# an input must not inherit the default source's year, kind or addresses.
_REPLACED_WHOLE = (("value", "sources"),)


def _merge_config(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = _deep_merge(base, over)
    for path in _REPLACED_WHOLE:
        src: Any = over
        for k in path:
            src = src.get(k) if isinstance(src, dict) else None
        if isinstance(src, dict):
            dst = out
            for k in path:
                dst = dst[k]
            dst.update(src)
    return out


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Load the run configuration: the plan's defaults, overlaid by ``path`` and then ``overrides``.

    Parameters
    ----------
    path : str or Path, optional
        A YAML file with any subset of the keys of ``default_config.yaml``.
    overrides : dict, optional
        Nested values applied last (for tests and the command line).

    Raises
    ------
    ConfigError
        For an unknown key or a wrong value; the message names the key and the value.
    """
    data = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))
    source = str(DEFAULT_CONFIG_PATH.name)
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"configuration file {p} does not exist")
        user = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        if not isinstance(user, dict):
            raise ConfigError(f"{p}: the configuration must be a mapping of keys to values")
        data = _merge_config(data, user)
        source = str(p)
    if overrides:
        data = _merge_config(data, overrides)
        source = f"{source} + overrides" if path is not None else "configuration overrides"
    try:
        return RunConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_format_validation_error(source, e)) from None
