"""Ground truth: per-meeting potential outcomes and the sample's true effects (ATT, ATE by group).

The truth file is JSON (see ``docs/synth.md`` for its keys); the per-meeting table is Parquet. Both
live outside the delivery folder.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyarrow as pa

from synth.calendar import Calendar
from synth.codes import Codes
from synth.outcomes import OUTCOMES
from synth.simulate import AGE_BANDS, ChunkResult, _age_at, age_band_labels
from synth.world import World

GROUP_VARS = ("benefit_group", "age_band", "sex", "education_level")
PLACEBO_OUTCOMES = ("weeks_selfsupport_pre52w",)


def meeting_table(
    res: ChunkResult, cal: Calendar, codes: Codes, world: World, koen_labels: dict[int, str]
) -> pa.Table:
    """One row per eligible meeting of the chunk with both potential values of every outcome."""
    tr = res.truth
    mt = res.meetings
    sel = tr["_sel"]
    p = res.persons
    rows = mt["row"][sel]
    week = mt["week"][sel]
    dates = mt["date"][sel].astype("datetime64[D]")
    code_m = res.codes[rows, week]
    grp_idx = codes.target_lookup[code_m]
    tg = np.array(codes.target_groups, dtype=object)
    age = _age_at(p.birth[rows], dates)
    level = np.where(p.in_udda[rows], p.level[rows].astype(np.int64), -1)
    cols: dict[str, Any] = {
        "pnr": pa.array(p.pnr[rows], type=pa.string()),
        "person": p.pid[rows],
        "samtale_dato": pa.array(dates, type=pa.date32()),
        "week_index": cal.global_week_index(week).astype(np.int64),
        "kommune": world.kom_codes[mt["kom"][sel]].astype(np.int32),
        "kontaktform": pa.array(mt["form"][sel], type=pa.string()),
        "digital": mt["digital"][sel].astype(np.int8),
        "benefit_group": pa.array(tg[grp_idx], type=pa.string()),
        "age": np.floor(age).astype(np.int32),
        "age_band": pa.array(age_band_labels(np.floor(age)), type=pa.string()),
        "sex": pa.array(
            np.array([koen_labels[int(k)] for k in p.koen[rows]], dtype=object), type=pa.string()
        ),
        "education_level": pa.array(np.maximum(level, 0).astype(str).astype(object), type=pa.string()),
        "spell_start_week_index": cal.global_week_index(tr["spell_start"]).astype(np.int64),
        "true_hazard_ratio": tr["hr"].astype(np.float64),
    }
    for name in OUTCOMES:
        cols[f"{name}_0"] = tr[f"{name}__0"]
        cols[f"{name}_1"] = tr[f"{name}__1"]
        # the three-arm truth (modality design): the value under a telephone and under a video meeting
        cols[f"{name}_telephone"] = tr[f"{name}__tel"]
        cols[f"{name}_video"] = tr[f"{name}__vid"]
        cols[f"{name}_obs"] = tr[f"{name}__obs"]
    return pa.table(cols)


def _f(x: float) -> float | None:
    return None if (x is None or (isinstance(x, float) and math.isnan(x))) else float(x)


def effect_summary(y0: np.ndarray, y1: np.ndarray, yobs: np.ndarray, d: np.ndarray) -> dict[str, Any]:
    """True ATT/ATE over units with both potential values known, and the naive observed difference."""
    both = ~np.isnan(y0) & ~np.isnan(y1)
    tau = y1 - y0
    t = both & (d == 1)
    obs_ok = ~np.isnan(yobs)
    treated_obs = obs_ok & (d == 1)
    control_obs = obs_ok & (d == 0)
    return {
        "n": int(both.sum()),
        "n_treated": int(t.sum()),
        "n_control": int((both & (d == 0)).sum()),
        "n_missing": int((~both).sum()),
        "att": _f(tau[t].mean()) if t.any() else None,
        "ate": _f(tau[both].mean()) if both.any() else None,
        "mean_y0": _f(y0[both].mean()) if both.any() else None,
        "mean_y1": _f(y1[both].mean()) if both.any() else None,
        "mean_y0_treated": _f(y0[t].mean()) if t.any() else None,
        "naive_difference": _f(yobs[treated_obs].mean() - yobs[control_obs].mean())
        if treated_obs.any() and control_obs.any()
        else None,
    }


CONTRASTS = ("telephone_vs_in_person", "video_vs_in_person", "video_vs_telephone")


def contrast_summary(y_in: np.ndarray, y_tel: np.ndarray, y_vid: np.ndarray) -> dict[str, Any]:
    """True average contrasts of the three forms (the modality design's estimands, ATE-type) over the
    meetings with all three potential values known. The digital ATE is the mix of the first two, each
    meeting at its own latent digital form."""
    ok = ~np.isnan(y_in) & ~np.isnan(y_tel) & ~np.isnan(y_vid)
    pairs = {CONTRASTS[0]: (y_tel, y_in), CONTRASTS[1]: (y_vid, y_in), CONTRASTS[2]: (y_vid, y_tel)}
    return {
        name: {"ate": _f((a[ok] - b[ok]).mean()) if ok.any() else None, "n": int(ok.sum())}
        for name, (a, b) in pairs.items()
    }


def truth_effects(tab: pa.Table) -> dict[str, Any]:
    """Effects of every outcome, overall and by each group variable."""
    d = np.asarray(tab.column("digital").to_numpy(zero_copy_only=False), dtype=np.int8)
    groups = {g: np.asarray(tab.column(g).to_numpy(zero_copy_only=False), dtype=object) for g in GROUP_VARS}
    out: dict[str, Any] = {}
    for name in OUTCOMES:
        y0 = np.asarray(tab.column(f"{name}_0").to_numpy(zero_copy_only=False), dtype=np.float64)
        y1 = np.asarray(tab.column(f"{name}_1").to_numpy(zero_copy_only=False), dtype=np.float64)
        yo = np.asarray(tab.column(f"{name}_obs").to_numpy(zero_copy_only=False), dtype=np.float64)
        entry: dict[str, Any] = {"overall": effect_summary(y0, y1, yo, d), "by_group": {}}
        if f"{name}_telephone" in tab.column_names:
            entry["contrasts"] = contrast_summary(
                y0,
                np.asarray(tab.column(f"{name}_telephone").to_numpy(zero_copy_only=False), dtype=np.float64),
                np.asarray(tab.column(f"{name}_video").to_numpy(zero_copy_only=False), dtype=np.float64),
            )
        for g, lab in groups.items():
            entry["by_group"][g] = {
                str(v): effect_summary(y0[lab == v], y1[lab == v], yo[lab == v], d[lab == v])
                for v in sorted(set(lab.tolist()))
            }
        out[name] = entry
    return out


def sample_summary(tab: pa.Table) -> dict[str, Any]:
    d = np.asarray(tab.column("digital").to_numpy(zero_copy_only=False), dtype=np.int8)
    dates = np.asarray(tab.column("samtale_dato").to_numpy(zero_copy_only=False)).astype("datetime64[M]")
    months = sorted(set(dates.tolist()))
    by_month = {}
    for mth in months:
        m = dates == np.datetime64(mth, "M")
        by_month[str(np.datetime64(mth, "M"))] = {"n": int(m.sum()), "digital_share": float(d[m].mean())}
    groups = np.asarray(tab.column("benefit_group").to_numpy(zero_copy_only=False)).astype(str)
    by_month_group: dict[str, dict[str, dict[str, Any]]] = {}
    for g in sorted(set(groups.tolist())):
        cells = {}
        for mth in months:
            m = (dates == np.datetime64(mth, "M")) & (groups == g)
            if m.any():
                cells[str(np.datetime64(mth, "M"))] = {"n": int(m.sum()), "digital_share": float(d[m].mean())}
        by_month_group[g] = cells
    persons = np.asarray(tab.column("person").to_numpy())
    return {
        "n_eligible_meetings": int(d.shape[0]),
        "n_digital": int(d.sum()),
        "n_in_person": int((d == 0).sum()),
        "n_persons": int(np.unique(persons).shape[0]),
        "digital_share_by_month": by_month,
        "digital_share_by_month_and_group": by_month_group,
    }


def group_definitions(
    codes: Codes, level_names: dict[int, str], koen_labels: dict[int, str]
) -> dict[str, Any]:
    return {
        "benefit_group": {
            "definition": "codebook dream group of the DREAM code in the meeting week",
            "values": list(codes.target_groups),
        },
        "age_band": {
            "definition": "age in whole years at SAMTALE_DATO, bands [low, high)",
            "bands": [{"label": lab, "low": lo, "high": hi} for lo, hi, lab in AGE_BANDS],
        },
        "sex": {
            "definition": "KOEN label from the codebook",
            "values": [koen_labels[k] for k in sorted(koen_labels)],
        },
        "education_level": {
            "definition": "codebook education level of the person's HFAUDD (constant over the "
            "years in the synthetic world); 0 also when the person has no UDDA row (as the pipeline's "
            "education_level covariate)",
            "levels": {str(k): v for k, v in sorted(level_names.items())},
        },
    }
