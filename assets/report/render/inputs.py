"""What the report reads: each input declared once (file, columns), read by exactly those names.

No Dagster. :data:`REPORT_INPUTS` is the one place that names the pipeline outputs the report uses: the
file (relative to the run folder, from the producers' own constants where they have one) and the columns
the report reads. ``required`` columns must be in the file; ``optional`` columns are written by the
producer for some designs or configurations only (e.g. ``contrast`` for the modality design) and are read
when present. A file that exists without a required column is an error naming the file and the columns
(:class:`ReportInputError`); a file that does not exist leaves its table ``None``, and the report's
completeness check names it when a configured section needs it. It is data, so that a contract factory
(issue 19, point 1) can take it over.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from assets.analysis.logic import COLUMN_DICTIONARY, DIGITAL_SHARE_KOMMUNE_MONTH, DIGITAL_SHARE_MONTH
from assets.treatment.logic import SAMPLE_FLOW
from data_contracts.codebook import FLOW_FORM_COLUMNS, FORM_COUNT_COLUMNS, SHARE_FORM_COLUMNS
from models.feasibility import FEASIBILITY_COLUMNS
from models.value import VALUE_COLUMNS


@dataclass(frozen=True)
class InputTable:
    """One pipeline output the report reads: attribute of :class:`ReportInputs`, file, columns."""

    key: str
    file: str
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()

    @property
    def columns(self) -> tuple[str, ...]:
        return self.required + self.optional


_SHARE = ("calendar_month", "n_meetings", "n_digital", "digital_share")
_KEYS = ("outcome", "design")
_EST = ("estimate", "se", "ci_low", "ci_high")
# the estimates' columns the report reads (all in assets.estimation.logic.ESTIMATE_COLUMNS: tested)
_ESTIMATES = (
    *_KEYS, "contrast", "model", "score", "learner", "folds", "reps", "seed", "cluster", *_EST, "p_value",
    "n", "n_treated", "n_trimmed", "n_missing_outcome", "n_missing_instrument", "n_persons",
    "n_trimmed_treated", "n_trimmed_control", "first_stage_f", "first_stage_partial_r2", "ar_ci_low",
    "ar_ci_high", "ar_set",
)  # fmt: skip

REPORT_INPUTS: tuple[InputTable, ...] = (
    InputTable("sample_flow", f"treatment/{SAMPLE_FLOW}",
               ("rule", "description", "units_before", "units_removed", "units_after"), FLOW_FORM_COLUMNS),
    # the form columns are null when the eligible table predates the meeting form
    InputTable("share_month", f"analysis/{DIGITAL_SHARE_MONTH}",
               (*_SHARE, *FORM_COUNT_COLUMNS, *SHARE_FORM_COLUMNS)),
    InputTable("share_municipality", f"analysis/{DIGITAL_SHARE_KOMMUNE_MONTH}",
               ("kommune", *_SHARE, *FORM_COUNT_COLUMNS, *SHARE_FORM_COLUMNS)),
    InputTable("estimates", "estimation/estimates.parquet", _ESTIMATES),
    InputTable("overlap", "estimation/overlap.parquet", (*_KEYS, "bin_low", "bin_high", "n_treated", "n_control")),
    InputTable("balance", "estimation/balance.parquet", (*_KEYS, "covariate", "smd_before", "smd_after")),
    InputTable("sensitivity", "estimation/sensitivity.parquet",
               (*_KEYS, "cf_y", "cf_d", "rho", "theta", "theta_lower", "theta_upper", "rv", "rva", "benchmark"),
               ("ci_lower", "ci_upper")),
    InputTable("group_effects", "estimation/group_effects.parquet",
               (*_KEYS, "group_var", "group", *_EST, "n"), ("contrast", "n_treated", "n_control", "reason")),
    InputTable("placebos", "estimation/placebos.parquet",
               ("kind", "outcome", *_EST, "p_value", "n"), ("design",)),
    InputTable("power", "estimation/power.parquet", ("outcome", "trial_size", "baseline_mean", "sd", "mde")),
    InputTable("nuisance_losses", "estimation/nuisance_losses.parquet",
               (*_KEYS, "learner", "nuisance", "loss"), ("metric", "selection_loss")),
    InputTable("value", "estimation/value.parquet", tuple(VALUE_COLUMNS)),
    InputTable("feasibility", "estimation/feasibility.parquet", tuple(FEASIBILITY_COLUMNS)),
    InputTable("overlap_by_arm", "estimation/overlap_by_arm.parquet",
               (*_KEYS, "form", "arm", "n", "min", "p05", "p25", "p50", "p75", "p95", "max")),
    InputTable("potential_outcomes", "estimation/potential_outcomes.parquet",
               (*_KEYS, "level", *_EST, "n", "n_trimmed")),
)  # fmt: skip
INPUTS_BY_KEY = {t.key: t for t in REPORT_INPUTS}
DELIVERY_MANIFEST = InputTable("delivery_manifest", "raw/delivery_manifest.parquet", ("file", "sha256"))
COLUMN_DICTIONARY_INPUT = InputTable("column_dictionary", f"analysis/{COLUMN_DICTIONARY}", ("name",))


class ReportInputError(ValueError):
    """A pipeline output the report reads exists but lacks a declared column (or cannot be read)."""


@dataclass
class ReportInputs:
    """Everything the report reads; a table is None when its file does not exist."""

    sample_flow: pl.DataFrame | None = None
    share_month: pl.DataFrame | None = None
    share_municipality: pl.DataFrame | None = None
    estimates: pl.DataFrame | None = None
    overlap: pl.DataFrame | None = None
    balance: pl.DataFrame | None = None
    sensitivity: pl.DataFrame | None = None
    group_effects: pl.DataFrame | None = None
    placebos: pl.DataFrame | None = None
    power: pl.DataFrame | None = None
    nuisance_losses: pl.DataFrame | None = None
    value: pl.DataFrame | None = None
    feasibility: pl.DataFrame | None = None
    # the modality design: generalized propensity by arm, and each form's potential outcome and trimming
    overlap_by_arm: pl.DataFrame | None = None
    potential_outcomes: pl.DataFrame | None = None
    delivery_manifest_sha256: str | None = None
    delivery_name: str = ""
    # input key -> file read (relative to the run folder)
    sources: dict[str, str] = field(default_factory=dict)
    # what the data could not give this run (e.g. a covariate left out), stated near the top of the report
    data_notes: list[str] = field(default_factory=list)


def read_input(work_dir: Path, spec: InputTable) -> pl.DataFrame | None:
    """The declared columns of ``spec``'s file under ``work_dir``; None when the file does not exist.

    Raises
    ------
    ReportInputError
        The file exists but cannot be read, or lacks a required column (both named).
    """
    path = Path(work_dir) / spec.file
    if not path.is_file():
        return None
    try:
        names = pl.read_parquet_schema(path)
    except Exception as e:  # noqa: BLE001 - named for the engineer, with the file
        raise ReportInputError(f"{spec.file}: cannot be read ({type(e).__name__}: {e})") from e
    missing = [c for c in spec.required if c not in names]
    if missing:
        raise ReportInputError(
            f"{spec.file}: column(s) {missing} missing (the report reads {list(spec.required)}); "
            "the producer and the report's declaration (assets/report/render/inputs.py) disagree"
        )
    return pl.read_parquet(path, columns=[c for c in spec.columns if c in names])


def manifest_hash(manifest: pl.DataFrame) -> str:
    """sha256 over the delivery manifest's sorted (file, sha256) pairs."""
    rows = sorted(manifest.select("file", "sha256").iter_rows())
    text = "\n".join("|".join(str(x) for x in r) for r in rows)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def load_inputs(work_dir: str | Path) -> ReportInputs:
    """Read the declared inputs of the run folder ``work_dir`` (``<workdir>/runs/<delivery>``).

    Raises
    ------
    ReportInputError
        An input file exists without a column the report reads.
    """
    w = Path(work_dir)
    inp = ReportInputs(delivery_name=w.name)
    for spec in REPORT_INPUTS:
        df = read_input(w, spec)
        if df is not None:
            setattr(inp, spec.key, df)
            inp.sources[spec.key] = spec.file
    m = read_input(w, DELIVERY_MANIFEST)
    if m is not None:
        inp.delivery_manifest_sha256 = manifest_hash(m)
    cd = read_input(w, COLUMN_DICTIONARY_INPUT)
    if cd is not None and "local_benefit_share" not in cd["name"].to_list():
        from assets.covariates.logic import LOCAL_LEFT_OUT_WARNING

        inp.data_notes.append(LOCAL_LEFT_OUT_WARNING)
    return inp
