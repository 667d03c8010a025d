"""Run configuration: one YAML file with the analysis plan's defaults, validated into a frozen model.

The defaults are written once, in ``default_config.yaml`` (with their comments and the value section's
sources); the model declares the types and the rules, and fills a key left out from that file
(:class:`_Section`), so ``EstimationConfig()`` and ``load_config().estimation`` are the same.

The configuration in force is stored with every output (:meth:`RunConfig.to_yaml`). Each output's data
version holds the hash of the sections its stage reads (:meth:`RunConfig.sha256_of`): the table build's
(:data:`TABLE_SECTIONS`) enter the delivered registers' versions, the estimation's and the value table's
(:data:`ESTIMATION_SECTIONS`, :data:`VALUE_SECTIONS`) only the assets that read them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from data_contracts.designs import DesignName, ValuedDesignName, outcome_unit
from data_contracts.designs import outcome as outcome_record

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


# Which part of the pipeline reads which section of the run configuration (docs/design.md, "Data versions").
# The table build (raw -> staging -> cohort -> ... -> the analysis table and the tables beside it: sample
# flow, digital shares, outcome means) reads these: a change in one of them restages every register.
# disclosure is among them because the table build suppresses small cells in its own metadata.
TABLE_SECTIONS = ("codebook", "file_patterns", "cohort", "outcomes", "covariates", "disclosure")
# Read only by the estimation cells, the collection, the placebos, the reversed trial's power and the
# report: a change re-estimates, and restages nothing.
ESTIMATION_SECTIONS = ("estimation",)
# Read only by the value table and the report: a change re-estimates nothing.
VALUE_SECTIONS = ("value",)


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


# The one place the defaults are written (tests/data_contracts/test_dc_config_defaults.py: no field of the
# model has a default of its own).
DEFAULTS: dict[str, Any] = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))


class _Section(_Frozen):
    """A part of the run configuration whose defaults are :data:`DEFAULTS` at ``_key`` (top level: "")."""

    _key: ClassVar[str] = ""

    @model_validator(mode="before")
    @classmethod
    def _defaults_from_yaml(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {**(DEFAULTS[cls._key] if cls._key else DEFAULTS), **data}
        return data


class CohortConfig(_Section):
    _key: ClassVar[str] = "cohort"
    window_start: dt.date
    window_end: dt.date
    target_groups: tuple[str, ...]
    meeting_types: tuple[str, ...]
    actors: tuple[str, ...]
    treated_category: str
    control_category: str
    require_confirmed: bool

    @model_validator(mode="after")
    def _window(self) -> CohortConfig:
        if self.window_end < self.window_start:
            raise ValueError(
                f"cohort.window_end ({self.window_end}) is before cohort.window_start ({self.window_start})"
            )
        if self.treated_category == self.control_category:
            raise ValueError("cohort.treated_category and cohort.control_category must differ")
        return self


class OutcomeConfig(_Section):
    _key: ClassVar[str] = "outcomes"
    exit_horizons: tuple[int, ...]
    selfsupport_horizons: tuple[int, ...]
    placebo_weeks: int = Field(ge=1, le=520)
    employment_benefit_free_weeks: int = Field(ge=1, le=52)
    employment_min_grad: int = Field(ge=0, lt=100)

    @field_validator("exit_horizons", "selfsupport_horizons")
    @classmethod
    def _positive(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if not v or any(k < 1 or k > 520 for k in v):
            raise ValueError(f"horizons must be weeks in 1..520, got {list(v)}")
        return tuple(sorted(set(v)))


FINAL_MIN_REPS = 5


class EstimationConfig(_Section):
    _key: ClassVar[str] = "estimation"
    primary_outcomes: tuple[str, ...]
    placebo_outcomes: tuple[str, ...]
    designs: tuple[DesignName, ...]
    learner: Literal["auto", "lgbm", "lasso", "rf"]
    n_folds: int = Field(ge=2, le=20)
    n_reps: int = Field(ge=1, le=100)
    seed: int
    trim: tuple[float, float]
    cluster: Literal["person", "person_and_kommune"]
    lgbm_n_estimators: int = Field(ge=10, le=5000)
    lgbm_num_threads: int = Field(ge=1, le=64)
    group_effects: tuple[str, ...]
    trial_sizes: tuple[int, ...]
    # PLIV's split-sample instrument: fewest meetings of the other half in a kommune x month cell
    instrument_min_other: int = Field(ge=1, le=1000)
    # A final run (the plan's: at least FINAL_MIN_REPS repetitions); a run that is not final is exploratory.
    final: bool
    # Shared nuisance fits (models/nuisance_cache.py): a nuisance several cells need (the propensity for every
    # outcome with the same sample, IRM-ATT's outcome models for IRM-ATE) is fitted once and read by the
    # others, from <work>/cache/nuisance. Identical results; false fits every cell on its own.
    share_fits: bool
    # IRM and PLR: the propensity (treatment given covariates, no outcome in it) fitted on every meeting of
    # the cell's unit, those whose outcome horizon runs past the data included, with person folds drawn on
    # all of them ('unit'); or on each outcome's own rows ('outcome'). 'unit' fits it once for every
    # outcome (docs/estimation.md, "The propensity on the whole unit").
    propensity_rows: Literal["unit", "outcome"]

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
    feasibility_outcome: str
    feasibility_effect: tuple[float, float]

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


class CovariateConfig(_Section):
    _key: ClassVar[str] = "covariates"

    # The local labour market's denominator is the municipality's whole population aged 16-66. Without a
    # delivered befolkning_kommune, BEF may serve only when it holds whole municipalities; the registers
    # cannot tell that (a project's BEF is cut to its own population), so the researcher says so here.
    bef_covers_municipalities: bool


class DisclosureConfig(_Section):
    _key: ClassVar[str] = "disclosure"
    min_cell: int = Field(ge=3, le=100)


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


class ValueConfig(_Section):
    """What a digital meeting is worth (models/value.py): every number is a changeable assumption."""

    _key: ClassVar[str] = "value"
    staff_minutes_saved: float = Field(ge=0, le=480, allow_inf_nan=False)
    staff_cost_per_hour_dkk: float = Field(gt=0, le=100_000, allow_inf_nan=False)
    # the benefit groups of the cohort (cohort.target_groups): weekly benefit and annual jobsamtaler nationally
    weekly_benefit_dkk: dict[str, float]
    annual_jobsamtaler: dict[str, int]
    outcome: str
    # the naive difference in means is not an effect, so it cannot be valued
    design: ValuedDesignName
    # keys: staff_minutes_saved, staff_cost_per_hour_dkk, weekly_benefit_dkk.<group>,
    # annual_jobsamtaler.<group>; an input without an entry is reported as having no source
    # the sources are prose with figures: written once, in the YAML, so that the configuration, the report
    # and docs/value.md cannot disagree (a test checks the docs against them)
    sources: dict[str, ValueSource]

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
        if outcome_unit(v) != "weeks" or outcome_record(v).kind.role != "primary":
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


class RunConfig(_Section):
    """The whole run configuration. Build it with :func:`load_config`."""

    codebook: Path | None
    file_patterns: dict[str, str]
    cohort: CohortConfig
    outcomes: OutcomeConfig
    estimation: EstimationConfig
    covariates: CovariateConfig
    disclosure: DisclosureConfig
    value: ValueConfig

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

    def to_yaml(self, sections: Iterable[str] | None = None) -> str:
        """The configuration in force, as YAML (stored beside every output); only ``sections`` if given
        (still a configuration file: :func:`load_config` fills the other sections with the defaults)."""
        include = None if sections is None else set(_check_sections(sections))
        return yaml.safe_dump(
            self.model_dump(mode="json", include=include), sort_keys=True, allow_unicode=True
        )

    @property
    def sha256(self) -> str:
        """sha256 of the whole configuration."""
        return hashlib.sha256(self.to_yaml().encode("utf-8")).hexdigest()

    def sha256_of(self, sections: Iterable[str]) -> str:
        """sha256 of ``sections`` of the configuration (e.g. :data:`TABLE_SECTIONS`): a version that changes
        when a key of one of them changes and not when another section does. All sections give
        :attr:`sha256`.

        Raises
        ------
        ValueError
            If ``sections`` is empty or names no section of the configuration.
        """
        return hashlib.sha256(self.to_yaml(sections).encode("utf-8")).hexdigest()

    @property
    def table_sha256(self) -> str:
        """sha256 of the sections the table build reads (:data:`TABLE_SECTIONS`), part of the delivered
        registers' data versions."""
        return self.sha256_of(TABLE_SECTIONS)

    def codebook_obj(self):  # -> Codebook; import here to keep the module light
        from data_contracts.codebook import load_codebook

        return load_codebook(self.codebook)


def _check_sections(sections: Iterable[str]) -> tuple[str, ...]:
    """``sections`` as a tuple, each a section of :class:`RunConfig`, at least one."""
    if isinstance(sections, str):  # one name, not its letters
        sections = (sections,)
    out = tuple(sections)
    unknown = sorted(set(out) - set(RunConfig.model_fields))
    if not out or unknown:
        raise ValueError(
            f"sections must name sections of the run configuration, got {list(out)} "
            f"(unknown: {unknown}); the sections are {list(RunConfig.model_fields)}"
        )
    return out


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
