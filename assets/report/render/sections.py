"""The report's sections as data: title, the tables each shows, the inputs behind them and whether the run
configuration asks for them. The prose of each section is its template ``templates/sections/<id>.html``.

No Dagster. A configured section with no approved table makes the report incomplete
(:func:`incomplete_sections`), which the report asset's blocking check refuses to ship.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from assets.report.render.inputs import INPUTS_BY_KEY, ReportInputs
from models.disclosure import GateResult

_IRM = ("irm_att", "irm_ate", "irm_att_first")


def _always(cfg: Any) -> bool:
    return True


def _designs(*names: str) -> Callable[[Any], bool]:
    return lambda cfg: any(d in cfg.estimation.designs for d in names)


@dataclass(frozen=True)
class Section:
    """One section: ``tables`` are gate results' names, ``inputs`` the :data:`REPORT_INPUTS` keys they
    are built from, ``configured(cfg)`` whether the run configuration asks for the section."""

    id: str
    title: str
    tables: tuple[str, ...]
    inputs: tuple[str, ...]
    configured: Callable[[Any], bool] = _always


SECTIONS: tuple[Section, ...] = (
    Section("flow", "Sample flow", ("sample_flow",), ("sample_flow",)),
    Section("share", "Digital share by month and municipality",
            ("digital_share_by_month", "digital_share_by_municipality", "digital_share_by_municipality_month"),
            ("share_month", "share_municipality")),
    Section("estimates", "Main estimates", ("estimates",), ("estimates",)),
    Section("modality", "In person, by telephone or by video",
            ("forms_by_month", "modality_contrasts", "modality_arms", "modality_overlap"),
            ("share_month", "estimates", "potential_outcomes", "overlap_by_arm"), _designs("modality")),
    Section("overlap", "Overlap", ("overlap",), ("overlap",), _designs(*_IRM)),
    Section("balance", "Covariate balance", ("balance",), ("balance", "estimates"), _designs(*_IRM)),
    Section("sensitivity", "Sensitivity to unobserved confounding", ("sensitivity",),
            ("sensitivity", "estimates"), _designs(*_IRM)),
    Section("placebos", "Placebo tests", ("placebos",), ("placebos",)),
    Section("groups", "Group effects", ("group_effects",), ("group_effects",),
            lambda cfg: bool(cfg.estimation.group_effects)),
    Section("value", "What a digital meeting is worth", ("value",), ("value", "estimates"),
            lambda cfg: getattr(cfg, "value", None) is not None),
    Section("feasibility", "Feasibility: can this delivery detect an effect of the size that matters?",
            ("feasibility",), ("feasibility",)),
    Section("power", "Power for the reversed trial", ("power",), ("power", "estimates"),
            lambda cfg: bool(cfg.estimation.trial_sizes)),
    Section("nuisance", "Nuisance losses", ("nuisance_losses",), ("nuisance_losses", "estimates")),
)  # fmt: skip


def incomplete_sections(results: Mapping[str, GateResult], inp: ReportInputs, cfg: Any) -> dict[str, str]:
    """Configured sections without an approved table -> why, naming the missing files and the tables'
    reasons (the gate's or the preparation's)."""
    out: dict[str, str] = {}
    for s in SECTIONS:
        if not s.configured(cfg) or any(results[t].approved for t in s.tables if t in results):
            continue
        why = [f"{INPUTS_BY_KEY[k].file} not found" for k in s.inputs if getattr(inp, k) is None]
        why += [f"table '{t}' not exported: {results[t].reason}" for t in s.tables if t in results]
        out[s.id] = f"section '{s.title}' has no approved table ({'; '.join(why) or 'no table produced'})"
    return out
