"""The true effects of a synthetic delivery, beside the estimates (synthetic data only).

No Dagster. One format: the truth file the synthetic generator writes (``synth/generate.py``,
``synth/truth.py``): ``{"effects": {outcome: {"overall": {"att", "ate", ...}, "by_group": {group_var:
{group: {"att", "ate", ...}}}, "contrasts": {contrast: {"ate", "n"}}}}}``. :func:`normalize_truth` turns
it into ``{outcome: {"att", "ate", "groups": {group_var: {group: {"att", "ate"}}}, "contrasts":
{contrast: ate}}}``, the form :func:`true_value` looks up.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl

Truth = dict[str, dict[str, Any]]


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def normalize_truth(doc: Mapping[str, Any] | None) -> Truth | None:
    """The generator's truth document in the form :func:`true_value` reads; None for no document.

    Raises
    ------
    ValueError
        ``doc`` has no ``effects`` mapping (not a truth file of the synthetic generator).
    """
    if doc is None:
        return None
    effects = doc.get("effects") if isinstance(doc, Mapping) else None
    if not isinstance(effects, Mapping):
        keys = sorted(doc)[:10] if isinstance(doc, Mapping) else type(doc).__name__
        raise ValueError(
            f"truth: no 'effects' mapping (the synthetic generator's truth file); got keys {keys}"
        )
    out: Truth = {}
    for outcome, e in effects.items():
        overall = e.get("overall") or {}
        groups = {
            str(gv): {str(g): {"att": _num(v.get("att")), "ate": _num(v.get("ate"))} for g, v in gd.items()}
            for gv, gd in (e.get("by_group") or {}).items()
        }
        contrasts = {str(c): _num(v.get("ate")) for c, v in (e.get("contrasts") or {}).items()}
        out[str(outcome)] = {
            "att": _num(overall.get("att")),
            "ate": _num(overall.get("ate")),
            "groups": groups,
            "contrasts": contrasts,
        }
    return out or None


def load_truth(path: str | Path | None) -> Truth | None:
    """Read a truth JSON file; None when no path is given or the file does not exist."""
    if not path:
        return None
    p = Path(path)
    if not p.is_file():
        return None
    return normalize_truth(json.loads(p.read_text(encoding="utf-8")))


def true_value(
    truth: Mapping[str, Any] | None,
    outcome: str,
    design: str,
    group_var: str | None = None,
    group: str | None = None,
    contrast: str | None = None,
) -> float | None:
    """The true effect a design targets: ATT for irm_att and naive, the contrast's ATE for the modality
    design (no group truths), else ATE."""
    if not truth or outcome not in truth or str(design).endswith("_first"):
        return None  # the truth files hold no effects for the secondary unit (first meetings of spells)
    t = truth[outcome]
    if design == "modality":
        if contrast is None or group_var is not None:
            return None
        return (t.get("contrasts") or {}).get(str(contrast))
    if group_var is not None:
        t = t.get("groups", {}).get(str(group_var), {}).get(str(group))
        if not t:
            return None
    key = "att" if design in ("irm_att", "naive") else "ate"
    v = t.get(key)
    return v if v is not None else t.get("att" if key == "ate" else "ate")


def with_truth(df: pl.DataFrame, truth: Mapping[str, Any] | None, group: bool = False) -> pl.DataFrame:
    """``df`` (keyed by outcome, design and, with ``group``, group_var and group) with ``true_value``."""
    if not truth:
        return df
    # the modality design's rows carry their contrast (null for the other designs)
    con = (
        df.get_column("contrast")
        if "contrast" in df.columns
        else pl.repeat(None, df.height, dtype=pl.String, eager=True)
    )
    if group:
        vals = [
            true_value(truth, o, d, gv, g, c)
            for (o, d, gv, g), c in zip(
                df.select("outcome", "design", "group_var", "group").iter_rows(), con, strict=True
            )
        ]
    else:
        vals = [
            true_value(truth, o, d, contrast=c)
            for (o, d), c in zip(df.select("outcome", "design").iter_rows(), con, strict=True)
        ]
    return df.with_columns(pl.Series("true_value", vals, dtype=pl.Float64))
