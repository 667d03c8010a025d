"""make demo's configuration (issue 22): the plan's defaults with fixed LightGBM, nothing else changed."""

from __future__ import annotations

import re
from pathlib import Path

from data_contracts.config import DEFAULT_CONFIG_PATH, load_config

ROOT = Path(__file__).resolve().parents[2]
DEMO_CONFIG = DEFAULT_CONFIG_PATH.with_name("demo_config.yaml")


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def test_make_demo_runs_the_demo_configuration():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    m = re.search(r"^DEMO_CONFIG \?= (\S+)$", makefile, re.MULTILINE)
    assert m, "the Makefile sets no DEMO_CONFIG default"
    assert (ROOT / m.group(1)).resolve() == DEMO_CONFIG.resolve()
    assert "$(if $(DEMO_CONFIG),--config $(DEMO_CONFIG))" in makefile


def test_the_demo_differs_from_the_defaults_only_in_the_learner():
    demo = _flat(load_config(DEMO_CONFIG).model_dump())
    plan = _flat(load_config(None).model_dump())
    changed = {k: (plan[k], demo[k]) for k in plan if plan[k] != demo[k]}
    assert changed == {"estimation.learner": ("auto", "lgbm")}
