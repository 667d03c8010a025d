"""What the report reads: each input is a table contract (``data_contracts/tables.py``) and the columns of it
the report uses.

No Dagster. :data:`REPORT_INPUTS` names, for each attribute of :class:`ReportInputs`, the contract of the
stage output it is read from and the columns the report reads; the file (``<stage>/<file>``) and which
columns are required come from the contract, and a column the contract does not declare is refused when
the module is imported (:func:`from_contract`). ``required`` columns must be in the file; ``optional``
ones are those the contract declares optional (written for some designs or configurations only, e.g.
``contrast`` for the modality design) and are read when present. A file that exists without a required
column is an error naming the file and the columns (:class:`ReportInputError`); a file that does not exist
leaves its table ``None``, and the report's completeness check names it when a configured section needs it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from data_contracts import tables as T
from data_contracts.codebook import FLOW_FORM_COLUMNS
from data_contracts.registers import Column
from data_contracts.tables import TableContract


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


def from_contract(
    key: str, contract: TableContract, columns: tuple[str, ...], tolerate: tuple[str, ...] = ()
) -> InputTable:
    """The input ``key`` read from ``contract``'s file: ``columns`` split into those the contract requires
    and those it declares optional (or that match a pattern), in the given order. ``tolerate`` names
    required columns the report reads when present, for run folders written before the column existed.

    Raises
    ------
    ValueError
        When ``columns`` or ``tolerate`` names a column the contract does not declare.
    """
    undeclared = [c for c in (*columns, *tolerate) if contract.spec(c) is None]
    if undeclared:
        raise ValueError(
            f"report input {key!r}: column(s) {undeclared} are not declared by the contract of "
            f"{contract.name} (data_contracts/tables.py)"
        )

    def required(c: str) -> bool:
        spec = contract.spec(c)
        return isinstance(spec, Column) and spec.required and c not in tolerate

    return InputTable(
        key,
        f"{contract.stage}/{contract.file}",
        tuple(c for c in columns if required(c)),
        tuple(c for c in columns if not required(c)),
    )


_SHARE = ("calendar_month", "n_meetings", "n_digital", "digital_share")
_FORMS = tuple(c for c in T.DIGITAL_SHARE_BY_MONTH.column_names if c.startswith(("n_", "share_")))
_KEYS = ("outcome", "design")
_EST = ("estimate", "se", "ci_low", "ci_high")
_ESTIMATES = (
    *_KEYS, "contrast", "model", "score", "learner", "folds", "reps", "seed", "cluster", *_EST, "p_value",
    "n", "n_treated", "n_trimmed", "n_missing_outcome", "n_missing_instrument", "n_persons",
    "n_trimmed_treated", "n_trimmed_control", "first_stage_f", "first_stage_partial_r2", "ar_ci_low",
    "ar_ci_high", "ar_set",
)  # fmt: skip

REPORT_INPUTS: tuple[InputTable, ...] = (
    # the form columns are read when present: a run folder from before the meeting form lacks them
    from_contract("sample_flow", T.SAMPLE_FLOW,
                  ("rule", "description", "units_before", "units_removed", "units_after", *FLOW_FORM_COLUMNS),
                  tolerate=FLOW_FORM_COLUMNS),
    from_contract("share_month", T.DIGITAL_SHARE_BY_MONTH, tuple(dict.fromkeys((*_SHARE, *_FORMS)))),
    from_contract("share_municipality", T.DIGITAL_SHARE_BY_KOMMUNE_MONTH,
                  tuple(dict.fromkeys(("kommune", *_SHARE, *_FORMS)))),
    from_contract("estimates", T.ESTIMATES, _ESTIMATES),
    from_contract("overlap", T.OVERLAP, (*_KEYS, "bin_low", "bin_high", "n_treated", "n_control")),
    from_contract("balance", T.BALANCE, (*_KEYS, "covariate", "smd_before", "smd_after")),
    from_contract("sensitivity", T.SENSITIVITY,
                  (*_KEYS, "cf_y", "cf_d", "rho", "theta", "theta_lower", "theta_upper", "rv", "rva", "benchmark",
                   "ci_lower", "ci_upper")),
    from_contract("group_effects", T.GROUP_EFFECTS,
                  (*_KEYS, "group_var", "group", *_EST, "n", "contrast", "n_treated", "n_control", "reason")),
    from_contract("placebos", T.PLACEBOS, ("kind", "outcome", *_EST, "p_value", "n", "design")),
    from_contract("power", T.POWER, ("outcome", "trial_size", "baseline_mean", "sd", "mde")),
    from_contract("nuisance_losses", T.NUISANCE_LOSSES,
                  (*_KEYS, "learner", "nuisance", "loss", "metric", "selection_loss")),
    from_contract("value", T.VALUE, T.VALUE.column_names),
    from_contract("feasibility", T.FEASIBILITY, T.FEASIBILITY.column_names),
    from_contract("overlap_by_arm", T.OVERLAP_BY_ARM,
                  (*_KEYS, "form", "arm", "n", "min", "p05", "p25", "p50", "p75", "p95", "max")),
    from_contract("potential_outcomes", T.POTENTIAL_OUTCOMES, (*_KEYS, "level", *_EST, "n", "n_trimmed")),
)  # fmt: skip
INPUTS_BY_KEY = {t.key: t for t in REPORT_INPUTS}
# the delivery as staged (no stage output, so no table contract): its files' hashes identify the delivery
DELIVERY_MANIFEST = InputTable("delivery_manifest", "raw/delivery_manifest.parquet", ("file", "sha256"))
COLUMN_DICTIONARY_INPUT = from_contract("column_dictionary", T.COLUMN_DICTIONARY, ("name",))


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
            "the producer and its contract (data_contracts/tables.py) disagree"
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
