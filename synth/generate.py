"""``generate_delivery``: write a synthetic DST-shaped delivery and its ground-truth file."""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from data_contracts.codebook import load_codebook
from synth.calendar import Calendar, DreamLayout
from synth.codes import Codes
from synth.early import draw_early
from synth.params import SynthParams
from synth.simulate import simulate_chunk
from synth.truth import (
    GROUP_VARS,
    PLACEBO_OUTCOMES,
    group_definitions,
    meeting_table,
    sample_summary,
    truth_effects,
)
from synth.world import WINDOW_END, WINDOW_START, World
from synth.writers import (
    FORMATS,
    DeliveryWriter,
    chunk_tables,
    dream_blocks,
    population_table,
    validation_table,
)

GENERATOR_VERSION = "1.0.0"
_DELIVERY_FILE = re.compile(
    r"^(bef\d{6}|udda\d{4}|ind\d{4}|akm\d{4}|akasse\d{4}|dream|samtaler\d{4}|kontaktform_validering|befolkning_kommune)"
    r"\.(parquet|csv|sas7bdat)$",
    re.IGNORECASE,
)


def default_truth_path(out_dir: str | Path) -> Path:
    """``<out>.truth.json`` next to the delivery folder."""
    out = Path(out_dir)
    return out.parent / f"{out.name}.truth.json"


def meetings_path_of(truth_path: str | Path) -> Path:
    """Per-meeting potential outcomes beside the truth JSON: ``<truth without .json>.meetings.parquet``."""
    t = Path(truth_path)
    stem = t.name[:-5] if t.name.endswith(".json") else t.name
    return t.parent / f"{stem}.meetings.parquet"


def _inside(path: Path, folder: Path) -> bool:
    p, f = path.resolve(), folder.resolve()
    return p == f or f in p.parents


def generate_delivery(
    out_dir: str | Path,
    persons: int,
    seed: int,
    fmt: str = "parquet",
    params: SynthParams | None = None,
    truth_path: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
    write_meetings: bool = True,
    codebook: str | Path | None = None,
    dream_from: int | None = None,
    grad_lag_months: int = 0,
) -> dict[str, Any]:
    """Write a synthetic delivery (every register of the delivery format) and its truth file.

    Parameters
    ----------
    out_dir : str or Path
        The delivery folder. It is written as a whole: the files are first written to a hidden sibling
        folder that then replaces ``out_dir``. An existing ``out_dir`` may only hold delivery files (it is
        refused otherwise, so that nothing else is ever deleted).
    persons : int
        Number of persons.
    seed : int
        Random seed; the same seed, persons, format and parameters give the same bytes.
    fmt : {"parquet", "csv", "sas7bdat"}
        File format of the registers (``sas7bdat`` needs ``../shared/tools/sas7bdat_writer.py``).
    params : SynthParams, optional
        Parameters of the synthetic world (defaults: :class:`SynthParams`).
    truth_path : str or Path, optional
        The truth JSON (default ``<out_dir>.truth.json`` beside the folder). Must lie outside ``out_dir``.
    progress : callable, optional
        Called with one line of text per chunk.
    write_meetings : bool
        Also write the per-meeting potential outcomes (``<truth>.meetings.parquet``).
    codebook : str or Path, optional
        Codebook file (default: the shipped one).
    dream_from : int, optional
        First year of DREAM's week columns, 1991-2015 (1991: from 1991-W30 as real DREAM; grad then from
        2008-01). Default 2015: DREAM as long as the simulation. The early weeks change no other value.
    grad_lag_months : int
        End ``grad_`` this many months before the month of DREAM's last week (default 0). The truth
        treats every week after the last week with grad as unobserved, as the pipeline does.

    Returns
    -------
    dict
        Summary: paths, file count, persons, eligible meetings, digital share, seconds.
    """
    t0 = time.time()
    params = params if params is not None else SynthParams()
    if fmt not in FORMATS:
        raise ValueError(f"synth: --format must be one of {FORMATS}, got {fmt!r}")
    if int(persons) < 1:
        raise ValueError(f"synth: --persons must be at least 1, got {persons}")
    persons, seed = int(persons), int(seed)
    out = Path(out_dir)
    truth = Path(truth_path) if truth_path is not None else default_truth_path(out)
    if _inside(truth, out):
        raise ValueError(f"synth: the truth file {truth} must lie outside the delivery folder {out}")
    meetings_file = meetings_path_of(truth)
    if _inside(meetings_file, out):
        raise ValueError(
            f"synth: the meetings file {meetings_file} must lie outside the delivery folder {out}"
        )
    if out.exists():
        if not out.is_dir():
            raise ValueError(f"synth: {out} exists and is not a folder")
        foreign = [p.name for p in out.iterdir() if not (p.is_file() and _DELIVERY_FILE.match(p.name))]
        if foreign:
            raise ValueError(
                f"synth: {out} holds {len(foreign)} entries that are not delivery files "
                f"(e.g. {sorted(foreign)[:3]}); choose an empty or new folder"
            )
    say = progress or (lambda _msg: None)
    cb = load_codebook(codebook)
    codes = Codes.from_codebook(cb)
    cal = Calendar()
    layout = DreamLayout(cal, dream_from, grad_lag_months)
    obs_end = layout.last_observable_week
    world = World.draw(seed, codes, cal, params)
    koen_labels = {int(k): str(v) for k, v in cb.koen.items()}
    level_names = {lv.level: lv.name for lv in cb.hfaudd_levels}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    writer = DeliveryWriter(tmp, fmt, layout, progress=say)
    parts: list[pa.Table] = []
    n_focal = 0
    n_meetings = 0
    try:
        writer.write("kontaktform_validering", validation_table(world, cal))
        writer.write("befolkning_kommune", population_table(world, persons, params.population_coverage, cal))
        chunk = params.chunk_size
        n_chunks = (persons + chunk - 1) // chunk
        for c in range(n_chunks):
            tc = time.time()
            i0 = c * chunk
            n = min(chunk, persons - i0)
            res = simulate_chunk(c, i0, n, seed, params, codes, cal, world, obs_end=obs_end)
            for name, table in chunk_tables(res, cal, codes, world).items():
                writer.write(name, table)
            early = draw_early(res.persons, layout, seed, c) if layout.n_early_weeks else None
            for table in dream_blocks(res, layout, early):
                writer.write("dream", table)
            parts.append(meeting_table(res, cal, codes, world, koen_labels))
            n_focal += res.n_focal
            n_meetings += int(res.meetings["row"].shape[0])
            say(
                f"synth: chunk {c + 1}/{n_chunks}: persons {i0 + n:,}/{persons:,}, "
                f"eligible meetings so far {sum(t.num_rows for t in parts):,} ({time.time() - tc:.1f} s)"
            )
            del res
        writer.close()
    except BaseException:
        writer.abort()
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    tab = pa.concat_tables(parts) if parts else None
    sample = sample_summary(tab)
    doc: dict[str, Any] = {
        "generator": "regdml synth",
        "generator_version": GENERATOR_VERSION,
        "codebook_version": cb.version,
        "codebook_sha256": cb.sha256,
        "seed": seed,
        "persons": persons,
        "format": fmt,
        "delivery": str(out),
        "world": params.world,
        "params": params.to_dict(),
        "dream": layout.describe(),
        "estimand": {
            "unit": "eligible meeting under the analysis plan's default rules",
            "rules": {
                "samtaletype": "jobsamtale",
                "aktoer": codes.jc,
                "window": [WINDOW_START.isoformat(), WINDOW_END.isoformat()],
                "kontaktform": {"treated": list(codes.kf_digital), "control": list(codes.kf_in_person)},
                "require_confirmed": True,
                "target_groups": list(codes.target_groups),
            },
            "potential_outcomes": "Y(d) for d in {0 in person, 1 digital}: meeting j's form set to d, every "
            "other meeting's form and week and every random draw kept",
            "observation": "outcomes as the delivery shows them: weeks after dream.observable_end_week "
            "(the last week whose Thursday lies in a delivered grad_ month, or the last y_ week if earlier) "
            "are unobserved, so an outcome whose window reaches past it is missing in both potential values",
            "att": "mean of Y(1) - Y(0) over eligible digital meetings with both values known",
            "ate": "mean of Y(1) - Y(0) over eligible meetings with both values known",
            "placebo_outcomes": list(PLACEBO_OUTCOMES),
        },
        "groups": group_definitions(codes, level_names, koen_labels),
        "group_vars": list(GROUP_VARS),
        "sample": sample,
        "n_focal_spells": n_focal,
        "n_meetings_written": n_meetings,
        "effects": truth_effects(tab),
        "files": {"n": len(writer.files()), "rows": writer.rows},
    }
    if write_meetings:
        doc["meetings_file"] = str(meetings_file)
    truth.parent.mkdir(parents=True, exist_ok=True)
    truth.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if write_meetings:
        pq.write_table(tab, meetings_file, compression="zstd")
    secs = time.time() - t0
    summary = {
        "delivery": str(out),
        "truth": str(truth),
        "meetings": str(meetings_file) if write_meetings else None,
        "format": fmt,
        "files": len(writer.files()),
        "persons": persons,
        "eligible_meetings": sample["n_eligible_meetings"],
        "digital_share": (sample["n_digital"] / sample["n_eligible_meetings"])
        if sample["n_eligible_meetings"]
        else float("nan"),
        "seconds": round(secs, 1),
    }
    say(
        f"synth: wrote {summary['files']} files to {out} and the truth to {truth} in {secs:.1f} s "
        f"({summary['eligible_meetings']:,} eligible meetings, digital share {summary['digital_share']:.3f})"
    )
    return summary
