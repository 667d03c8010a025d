"""Every code the generator writes, read from the codebook (never literal code meanings in code).

The generator needs to know which codes belong to which group; it asks the codebook by group *name*
and *kind* (``dream_groups``), by *category* (``kontaktform``) and by *label* (``koen``, ``ie_type``,
``civst``, ``aktoer``, ``samtaletype``, ``socio13`` groups).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from data_contracts.codebook import Codebook

# Group names of the analysis plan's target groups (names in the codebook, not code meanings).
DAGPENGE = "dagpenge"
KH_JOBPARAT = "kontanthjaelp_jobparat"
KH_OTHER = "kontanthjaelp_other"

# Other-benefit codes the synthetic world prefers (kept only if the codebook files them as other_benefit);
# every other other_benefit code may also occur, rarely.
_PREFERRED_OTHER_BENEFIT = (890, 890, 890, 774, 299, 411, 521, 600, 750)

# Country-of-origin codes (no meaning is attached by the pipeline: OPR_LAND is a category).
OPR_LAND_DANISH = 5100
OPR_LAND_OTHER = (5120, 5110, 5130, 5150, 5170, 5180, 5390, 5422, 5432, 5472, 5474, 5478, 5409, 5754)

# Kind ids used by the outcome code (synth.outcomes).
KIND_NONE, KIND_TARGET, KIND_OTHER_BENEFIT, KIND_OTHER_EXIT, KIND_CENSOR = 0, 1, 2, 3, 4


def _by_label(mapping: dict, label: str) -> object:
    for k, v in mapping.items():
        if v == label:
            return k
    raise KeyError(f"codebook: no code labelled {label!r} in {mapping}")


@dataclass(frozen=True)
class Codes:
    """Codes the generator writes, resolved from a :class:`Codebook`."""

    version: str
    sha256: str
    target_groups: tuple[str, ...]
    dagpenge: tuple[int, ...]
    kh_jobparat: tuple[int, ...]
    kh_other: tuple[int, ...]
    other_benefit: tuple[int, ...]
    other_benefit_preferred: tuple[int, ...]
    other_exit: tuple[int, ...]
    censoring: tuple[int, ...]
    kf_digital: tuple[str, ...]
    kf_in_person: tuple[str, ...]
    kf_other: tuple[str, ...]
    jobsamtale: int
    other_types: tuple[int, ...]
    followup_type: int
    jc: str
    ak: str
    koen_man: int
    koen_woman: int
    ie_danish: int
    ie_immigrant: int
    ie_descendant: int
    civ_unmarried: str
    civ_married: str
    civ_divorced: str
    civ_widowed: str
    socio_employee: tuple[int, ...]
    socio_self_employed: tuple[int, ...]
    socio_unemployed: tuple[int, ...]
    socio_outside: tuple[int, ...]
    socio_student: tuple[int, ...]
    hfaudd_ranges: tuple[tuple[int, int, int], ...]  # (level, from, to)
    kommuner: tuple[int, ...]
    kind_lookup: np.ndarray  # code (0..999) -> kind id
    target_lookup: np.ndarray  # code (0..999) -> index in target_groups, -1 otherwise
    # digital codes whose three-arm form is telephone (the others are video or without a form)
    kf_telephone: tuple[str, ...] = ()

    @classmethod
    def from_codebook(cls, cb: Codebook) -> Codes:
        groups = {g.name: g for g in cb.dream_groups}
        table = cb.dream_code_table()

        def codes_of_group(name: str) -> tuple[int, ...]:
            return tuple(int(str(r["code"])) for r in table if r["benefit_group"] == name)

        kind_ids = {
            "target": KIND_TARGET,
            "other_benefit": KIND_OTHER_BENEFIT,
            "other_exit": KIND_OTHER_EXIT,
            "censoring": KIND_CENSOR,
        }
        kind_lookup = np.zeros(1000, dtype=np.int8)
        target_lookup = np.full(1000, -1, dtype=np.int8)
        targets = cb.target_groups
        for r in table:
            c = int(str(r["code"]))
            kind_lookup[c] = kind_ids[str(r["kind"])]
            if r["benefit_group"] in targets:
                target_lookup[c] = targets.index(str(r["benefit_group"]))
        for name in (DAGPENGE, KH_JOBPARAT):
            if name not in groups or groups[name].kind != "target":
                raise ValueError(f"codebook: the generator needs a target group named {name!r}")
        other_benefit = tuple(
            int(str(r["code"]))
            for r in table
            if r["kind"] == "other_benefit" and r["benefit_group"] != KH_OTHER
        )
        preferred = tuple(c for c in _PREFERRED_OTHER_BENEFIT if c in other_benefit) or other_benefit[:5]
        socio: dict[str, list[int]] = {}
        for code, v in sorted(cb.socio13.items()):
            socio.setdefault(v.group, []).append(int(code))
        known_types = cb.samtaletype.known
        jobsamtale = cb.samtaletype_code("jobsamtale")
        return cls(
            version=cb.version,
            sha256=cb.sha256,
            target_groups=targets,
            dagpenge=codes_of_group(DAGPENGE),
            kh_jobparat=codes_of_group(KH_JOBPARAT),
            kh_other=codes_of_group(KH_OTHER) or other_benefit[:3],
            other_benefit=other_benefit,
            other_benefit_preferred=preferred,
            other_exit=tuple(int(c) for c in cb.codes_of_kind("other_exit")),
            censoring=tuple(int(c) for c in cb.codes_of_kind("censoring")),
            kf_digital=cb.kontaktform_codes("digital"),
            kf_in_person=cb.kontaktform_codes("in_person"),
            kf_other=cb.kontaktform_codes("other"),
            kf_telephone=tuple(k for k, f in cb.kontaktform_forms().items() if f == "telephone"),
            jobsamtale=jobsamtale,
            other_types=tuple(sorted(int(k) for k in known_types if int(k) != jobsamtale)),
            followup_type=cb.samtaletype_code("opfoelgningssamtale"),
            jc=str(_by_label(cb.aktoer, "jobcentre")),
            ak=str(_by_label(cb.aktoer, "a-kasse")),
            koen_man=int(_by_label(cb.koen, "man")),  # type: ignore[arg-type]
            koen_woman=int(_by_label(cb.koen, "woman")),  # type: ignore[arg-type]
            ie_danish=int(_by_label(cb.ie_type, "danish_origin")),  # type: ignore[arg-type]
            ie_immigrant=int(_by_label(cb.ie_type, "immigrant")),  # type: ignore[arg-type]
            ie_descendant=int(_by_label(cb.ie_type, "descendant")),  # type: ignore[arg-type]
            civ_unmarried=str(_by_label(cb.civst, "unmarried")),
            civ_married=str(_by_label(cb.civst, "married")),
            civ_divorced=str(_by_label(cb.civst, "divorced")),
            civ_widowed=str(_by_label(cb.civst, "widowed")),
            socio_employee=tuple(socio.get("employee", ())),
            socio_self_employed=tuple(socio.get("self_employed", ())),
            socio_unemployed=tuple(socio.get("unemployed", ())),
            socio_outside=tuple(socio.get("outside_labour_force", ())),
            socio_student=tuple(socio.get("student", ())),
            hfaudd_ranges=tuple((lv.level, lv.from_, lv.to) for lv in cb.hfaudd_levels),
            kommuner=tuple(sorted(int(k) for k in cb.kommuner)),
            kind_lookup=kind_lookup,
            target_lookup=target_lookup,
        )

    def level_of_hfaudd(self, hfaudd: np.ndarray) -> np.ndarray:
        """Education level of HFAUDD codes (-1 where no range matches)."""
        out = np.full(hfaudd.shape, -1, dtype=np.int16)
        for level, lo, hi in self.hfaudd_ranges:
            out[(hfaudd >= lo) & (hfaudd <= hi)] = level
        return out

    def hfaudd_range(self, level: int) -> tuple[int, int]:
        for lv, lo, hi in self.hfaudd_ranges:
            if lv == level:
                return lo, hi
        raise KeyError(f"codebook: no HFAUDD range for education level {level}")
