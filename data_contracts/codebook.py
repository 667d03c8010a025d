"""The versioned codebook: what DREAM, STAR and DST codes mean, read from ``codebook.yaml``.

Code meanings that could not be confirmed publicly live in the YAML file, never as literals in code.
Both the synthetic generator and the pipeline read them through :func:`load_codebook`.
"""

from __future__ import annotations

import hashlib
from functools import cached_property
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from data_contracts.dream_columns import DEFAULT_CENTURY_PIVOT

DEFAULT_CODEBOOK_PATH = Path(__file__).with_name("codebook.yaml")

DreamKind = Literal["target", "other_benefit", "other_exit", "censoring"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DreamGroup(_Frozen):
    """One group of DREAM weekly benefit codes."""

    name: str
    kind: DreamKind
    label: str
    codes: tuple[int, ...] = ()
    ranges: tuple[tuple[int, int], ...] = ()

    def contains(self, code: int) -> bool:
        return code in self.codes or any(lo <= code <= hi for lo, hi in self.ranges)


MEETING_FORMS: tuple[str, ...] = ("in_person", "telephone", "video")
"""The three arms of the modality design, in_person first (the reference level)."""
FORM_COUNT_COLUMNS: tuple[str, ...] = tuple(f"n_{f}" for f in MEETING_FORMS) + ("n_no_form",)
"""Count columns of the digital-share tables: each form, and meetings whose code has no form."""
FLOW_FORM_COLUMNS: tuple[str, ...] = tuple(f"units_{f}" for f in MEETING_FORMS) + ("units_no_form",)
"""Count columns of the sample flow's final step: its ``units_after`` by form, and without a form."""
SHARE_FORM_COLUMNS: tuple[str, ...] = tuple(f"share_{f}" for f in MEETING_FORMS if f != "in_person")
"""Share columns of the digital-share tables beside ``digital_share``: telephone and video over all meetings."""


class KontaktformCode(_Frozen):
    category: Literal["digital", "in_person", "other"]
    label: str
    # The three-arm form of the modality design; None leaves the code out of that design (counted).
    form: Literal["in_person", "telephone", "video"] | None = None

    @model_validator(mode="after")
    def _check_form(self) -> KontaktformCode:
        # A form must agree with the two-arm category, or the two designs would disagree on the arms.
        if self.form is not None:
            want = "in_person" if self.form == "in_person" else "digital"
            if self.category != want:
                raise ValueError(
                    f"codebook: kontaktform form {self.form!r} needs category {want!r}, "
                    f"got category={self.category!r}"
                )
        return self


class Samtaletype(_Frozen):
    known: dict[int, str]
    allowed_range: tuple[int, int]


class HfauddLevel(_Frozen):
    level: int
    name: str
    from_: int = Field(alias="from")
    to: int


class Socio13Code(_Frozen):
    group: str


class Codebook(_Frozen):
    """Parsed codebook. Use :func:`load_codebook` to read one."""

    version: str
    source: str
    dream_groups: tuple[DreamGroup, ...]
    kontaktform: dict[str, KontaktformCode]
    samtaletype: Samtaletype
    aktoer: dict[str, str]
    hfaudd_levels: tuple[HfauddLevel, ...]
    koen: dict[int, str]
    ie_type: dict[int, str]
    civst: dict[str, str]
    socio13: dict[int, Socio13Code]
    kommuner: dict[int, str]
    # DREAM's y_YYWW: ISO year 19YY for YY >= this, else 20YY (real DREAM starts in 1991: y_9130).
    dream_century_pivot: int = Field(DEFAULT_CENTURY_PIVOT, ge=0, le=100)
    sha256: str = ""

    model_config = ConfigDict(frozen=True, extra="forbid", ignored_types=(cached_property,))

    @model_validator(mode="after")
    def _check_groups(self) -> Codebook:
        names = [g.name for g in self.dream_groups]
        if len(set(names)) != len(names):
            raise ValueError(f"codebook: dream_groups names must be unique, got {names}")
        return self

    # -- DREAM -----------------------------------------------------------------------------------
    def dream_group_of(self, code: int | str | None) -> DreamGroup | None:
        """Return the first group containing ``code`` (None for no benefit or an unknown code)."""
        if code is None or code == "":
            return None
        c = int(code)
        for g in self.dream_groups:
            if g.contains(c):
                return g
        return None

    def dream_code_table(self) -> list[dict[str, object]]:
        """Every known 3-digit DREAM code with its group and kind, as rows (for a join in SQL)."""
        rows = []
        for code in range(100, 1000):
            g = self.dream_group_of(code)
            if g is not None:
                rows.append({"code": f"{code:03d}", "benefit_group": g.name, "kind": g.kind})
        return rows

    @property
    def target_groups(self) -> tuple[str, ...]:
        return tuple(g.name for g in self.dream_groups if g.kind == "target")

    def codes_of_kind(self, kind: DreamKind) -> tuple[str, ...]:
        return tuple(r["code"] for r in self.dream_code_table() if r["kind"] == kind)  # type: ignore[misc]

    # -- meetings ------------------------------------------------------------------------------
    def kontaktform_codes(self, category: str) -> tuple[str, ...]:
        return tuple(k for k, v in self.kontaktform.items() if v.category == category)

    def kontaktform_forms(self) -> dict[str, str]:
        """KONTAKTFORM code -> three-arm ``form``, for the codes that have one."""
        return {k: v.form for k, v in self.kontaktform.items() if v.form is not None}

    def samtaletype_code(self, name: str) -> int:
        for code, n in self.samtaletype.known.items():
            if n == name:
                return code
        raise KeyError(f"codebook: samtaletype {name!r} not in {sorted(self.samtaletype.known.values())}")

    def hfaudd_level(self, hfaudd: int | None) -> int | None:
        if hfaudd is None:
            return None
        for lvl in self.hfaudd_levels:
            if lvl.from_ <= hfaudd <= lvl.to:
                return lvl.level
        return None


def load_codebook(path: str | Path | None = None) -> Codebook:
    """Read and validate a codebook YAML file (default: the one shipped in ``data_contracts``).

    Parameters
    ----------
    path : str or Path, optional
        A codebook file. Defaults to ``data_contracts/codebook.yaml``.

    Returns
    -------
    Codebook
        The parsed codebook, with ``sha256`` set to the file's hash (its version for lineage).
    """
    p = Path(path) if path is not None else DEFAULT_CODEBOOK_PATH
    if not p.is_file():
        raise FileNotFoundError(f"codebook: file {p} does not exist")
    raw = p.read_bytes()
    data = yaml.safe_load(raw)
    if not isinstance(data, dict):
        raise ValueError(f"codebook: {p} does not hold a mapping")
    data["sha256"] = hashlib.sha256(raw).hexdigest()
    return Codebook.model_validate(data)
