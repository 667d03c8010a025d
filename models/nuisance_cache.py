"""Shared nuisance fits: a content-addressed cache of cross-fitted predictions and of learner choices.

Many cells of the estimation grid fit the same nuisance: the propensity of ``digital`` is the same fit for
every outcome with the same sample (the rows with a non-missing outcome) and for IRM-ATT, IRM-ATE and the
first repetition of PLR; IRM-ATE needs exactly IRM-ATT's outcome models. A fit is a deterministic function
of what it reads (:func:`models.engine.fit_fold`): the covariates, the fold assignment of its repetition,
its target, its rows and training mask, and the learner (kind, task, seed, settings). The cache's key is a
hash of exactly these, so a cell that finds its key gets the very numbers it would have computed itself:
the results of a grid with shared fits equal the per-cell results by construction.

The key also holds the versions of NumPy, scikit-learn and LightGBM and a hash of the source of the modules
a fit runs (:data:`SOURCES`): a code or library change never reuses an old fit.

Layout: ``<folder>/<2 hex>/<key>.npy`` (predictions, float64) and ``<key>.json`` (a learner choice), written
to a temporary name and renamed into place, so a reader sees a whole file or none. Two processes that miss
the same key at once both fit and both write the same content: wasted work, never a wrong answer.
``<folder>/used/<name>.json`` lists the keys one cell (or the placebo) used, for :meth:`NuisanceCache.prune`.

The entries are person-level data (one prediction per meeting): they stay in the run's work folder, and
nothing per person is logged or returned in metadata (only counts). No Dagster here.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # engine imports this module
    from models.engine import FitJob, FoldData
    from models.tuning import Choice

# Bump when the layout or the content of the key changes.
FORMAT = "regdml-nuisance-cache-1"
# The modules a cached fit or choice runs: a change to any of them changes every key.
SOURCES = ("learners.py", "engine.py", "tuning.py", "folds.py", "nuisance_cache.py")
LIBRARIES = ("numpy", "scikit-learn", "lightgbm")
# A temporary file older than this is a crashed writer's and is removed by prune().
STALE_TMP_SECONDS = 24 * 3600
USED = "used"


@functools.cache
def code_version() -> str:
    """The versions of NumPy, scikit-learn, LightGBM and Python and a hash of :data:`SOURCES`."""
    h = hashlib.blake2b(digest_size=16)
    h.update(FORMAT.encode())
    h.update(f"python={sys.version_info[0]}.{sys.version_info[1]}".encode())
    for lib in LIBRARIES:
        try:
            v = metadata.version(lib)
        except metadata.PackageNotFoundError:
            v = "none"
        h.update(f"|{lib}={v}".encode())
    here = Path(__file__).resolve().parent
    for name in SOURCES:
        h.update(f"|{name}=".encode())
        h.update((here / name).read_bytes())
    return h.hexdigest()


def array_digest(a: np.ndarray | None) -> str:
    """A hash of an array's dtype, shape and bytes (blake2b); ``'none'`` for ``None``."""
    if a is None:
        return "none"
    a = np.ascontiguousarray(a)
    h = hashlib.blake2b(digest_size=20)
    h.update(f"{a.dtype.str}{a.shape}".encode())
    h.update(a.reshape(-1).view(np.uint8))
    return h.hexdigest()


def mask_digest(mask: np.ndarray | None) -> str:
    """Like :func:`array_digest` for a row mask, with every row (``None``) and an all-true mask the same
    (both give the same fit and the same predictions)."""
    if mask is None:
        return "all"
    m = np.asarray(mask, dtype=bool)
    return "all" if bool(m.all()) else array_digest(m)


def make_key(*parts: Any) -> str:
    """The key of a fit or a choice: a hash of :func:`code_version` and ``parts`` (strings or reprs)."""
    h = hashlib.blake2b(digest_size=24)
    h.update(code_version().encode())
    for p in parts:
        h.update(b"\x1f")
        h.update(str(p).encode())
    return h.hexdigest()


def fit_key(data: FoldData, job: FitJob) -> str:
    """The key of one cross-fitted nuisance: everything :func:`models.engine.fit_fold` reads.

    The covariates, the fold assignment of the job's repetition (the repetition's number itself does not
    enter: the seed is in the learner), the target as float64 (what the learner gets), the rows in play
    and the training mask (by content, not by column name), the number of folds and the learner.
    """
    return make_key(
        "fit",
        data.x_digest,
        data.n_folds,
        data.fold_digest(job.rep),
        data.column_digest(job.target, np.float64),
        data.mask_digest(job.rows),
        data.mask_digest(job.fit_mask),
        repr(job.learner),
    )


def _choice_to_json(c: Choice) -> dict[str, Any]:
    return {"kind": c.kind, "params": [list(p) for p in c.params], "metric": c.metric, "loss": c.loss,
            "n_rows": c.n_rows, "candidates": [list(p) for p in c.candidates], "weights": list(c.weights),
            "z_vs_lgbm": list(c.z_vs_lgbm), "rule": c.rule}  # fmt: skip


def _tuples(v: Any) -> Any:
    """JSON's lists back to the tuples a Choice holds (a stack's members and weights are nested tuples;
    a Choice never holds a list, so every list read back was a tuple)."""
    return tuple(_tuples(x) for x in v) if isinstance(v, list) else v


def _choice_from_json(d: dict[str, Any]) -> Choice:
    from models.tuning import Choice

    return Choice(
        kind=str(d["kind"]),
        params=tuple((str(k), _tuples(v)) for k, v in d["params"]),
        metric=str(d["metric"]),
        loss=float(d["loss"]),
        n_rows=int(d["n_rows"]),
        candidates=tuple((str(k), float(v)) for k, v in d["candidates"]),
        weights=tuple(float(w) for w in d["weights"]),
        z_vs_lgbm=tuple(float(z) for z in d["z_vs_lgbm"]),
        rule=str(d["rule"]),
    )


class NuisanceCache:
    """Cross-fitted predictions and learner choices on disk, by content (see the module).

    Parameters
    ----------
    folder : path
        The cache's folder (the pipeline's: ``<work folder of the run>/cache/nuisance``); created when the
        first entry is written.

    Attributes
    ----------
    fits_requested, fits_made : int
        Cross-fitted nuisances asked of the engine, and those fitted (not found) in this object's life.
    choices_requested, choices_made : int
        The same for learner choices (``learner='auto'``).
    used : set of str
        Keys asked for (found or written) since the last :meth:`reset_usage`.
    """

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self._lock = threading.Lock()
        self.reset_usage()

    def reset_usage(self) -> None:
        """Forget the keys and counts recorded so far (e.g. before the next cell)."""
        with self._lock:
            self.used: set[str] = set()
            self.fits_requested = self.fits_made = 0
            self.choices_requested = self.choices_made = 0

    def counts(self) -> dict[str, int]:
        """The counters (see the class), for metadata and benchmarks."""
        return {"fits_requested": self.fits_requested, "fits_made": self.fits_made,
                "choices_requested": self.choices_requested, "choices_made": self.choices_made}  # fmt: skip

    # -- files

    def path(self, key: str, suffix: str) -> Path:
        return self.folder / key[:2] / f"{key}{suffix}"

    def _write(self, key: str, suffix: str, write: Callable[[Any], None], binary: bool) -> None:
        target = self.path(key, suffix)
        tmp = target.with_name(f".{key}.{uuid.uuid4().hex}.tmp")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb" if binary else "w", encoding=None if binary else "utf-8") as f:
                write(f)
            os.replace(tmp, target)  # windows-ok: a refused replace is caught below and costs a refit
        except OSError:
            # A cache that cannot be written (full disk; on Windows a reader holding the target open, which
            # then already holds the same content) costs a refit later, never a wrong answer.
            with contextlib.suppress(OSError):
                tmp.unlink()

    def _touch(self, path: Path) -> None:
        with contextlib.suppress(OSError):
            os.utime(path)  # the last use, for whoever inspects the folder

    def load_predictions(self, key: str, n: int) -> np.ndarray | None:
        """The stored predictions of ``key`` if they are whole (``n`` finite-or-not float64 values)."""
        p = self.path(key, ".npy")
        try:
            arr = np.load(p, allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return None
        if arr.dtype != np.float64 or arr.shape != (n,):
            return None
        self._touch(p)
        return arr

    def store_predictions(self, key: str, arr: np.ndarray) -> None:
        self._write(key, ".npy", lambda f: np.save(f, np.asarray(arr, dtype=np.float64)), binary=True)

    # -- the engine's entry point

    def run(
        self,
        data: FoldData,
        jobs: Sequence[FitJob],
        fit: Callable[[FoldData, Sequence[FitJob]], list[np.ndarray]],
    ) -> list[np.ndarray]:
        """The cross-fitted predictions of ``jobs``: found ones read, the others fitted by ``fit`` (once per
        distinct key, all in one call so an engine can run them side by side) and stored."""
        keys = [fit_key(data, job) for job in jobs]
        out: list[np.ndarray | None] = [None] * len(jobs)
        todo: dict[str, int] = {}
        for i, (key, job) in enumerate(zip(keys, jobs, strict=True)):
            if key in todo:
                continue
            out[i] = self.load_predictions(key, data.n_rows(job))
            if out[i] is None:
                todo[key] = i
        fitted = fit(data, [jobs[i] for i in todo.values()]) if todo else []
        made = dict(zip(todo, fitted, strict=True))
        for key, arr in made.items():
            self.store_predictions(key, arr)
        for i, key in enumerate(keys):
            if out[i] is None:
                out[i] = made[key] if todo[key] == i else made[key].copy()
        with self._lock:
            self.used.update(keys)
            self.fits_requested += len(jobs)
            self.fits_made += len(todo)
        return out  # type: ignore[return-value]

    # -- learner choices

    def choose_learner(
        self,
        X: np.ndarray,
        target: np.ndarray,
        persons: np.ndarray,
        task: str,
        *,
        rows: np.ndarray | None = None,
        x_digest: str | None = None,
        **kwargs: Any,
    ) -> Choice:
        """:func:`models.tuning.choose_learner` with the same arguments, found here when it was made before
        on the same covariates, target, persons, rows and settings. ``x_digest``: ``array_digest(X)`` when
        the caller has it (several nuisances of a cell share their covariates)."""
        from models.tuning import choose_learner

        key = make_key(
            "choice",
            x_digest or array_digest(X),
            array_digest(np.asarray(target, dtype=np.float64)),
            array_digest(np.asarray(persons)),
            mask_digest(rows),
            task,
            repr(sorted(kwargs.items())),
        )
        return self.choice_by_key(key, lambda: choose_learner(X, target, persons, task, rows=rows, **kwargs))

    def choice_by_key(self, key: str, make: Callable[[], Choice]) -> Choice:
        """The learner choice stored under ``key``, else ``make()`` (stored). For a caller whose key is
        computed from what the choice's data are made of rather than from the data themselves (PLIV's
        choices on the unit, :func:`models.estimate._iv_unit_choices`): the key must hold everything the
        choice depends on, as :func:`make_key` of those parts."""
        p = self.path(key, ".json")
        choice = None
        try:
            choice = _choice_from_json(json.loads(p.read_text(encoding="utf-8")))
            self._touch(p)
        except (OSError, ValueError, KeyError, TypeError):
            choice = None
        made = choice is None
        if made:
            choice = make()
            # json writes floats exactly (repr) and reads them back to the same value, inf and nan included
            text = json.dumps(_choice_to_json(choice))
            self._write(key, ".json", lambda f: f.write(text), binary=False)
        with self._lock:
            self.used.add(key)
            self.choices_requested += 1
            self.choices_made += int(made)
        return choice  # type: ignore[return-value]

    # -- usage and pruning

    def write_usage(self, name: str) -> Path:
        """Record under ``used/<name>.json`` the keys (and counts) since :meth:`reset_usage`: what the cell
        ``name`` needs. Counts and hashes only, nothing per person."""
        with self._lock:
            record = {"keys": sorted(self.used), **self.counts()}
        target = self.folder / USED / f"{name}.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{name}.{uuid.uuid4().hex}.tmp")
        tmp.write_text(json.dumps(record), encoding="utf-8")
        try:
            os.replace(tmp, target)  # windows-ok: a refused replace is caught and costs a refit only
        except OSError:
            # Without this record the pruning may remove the cell's entries: a refit later, never a wrong
            # answer (on Windows the replace is refused while another process has the record open).
            with contextlib.suppress(OSError):
                tmp.unlink()
        return target

    def usage(self, names: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
        """The usage records (``name -> record``), all or those of ``names``."""
        folder = self.folder / USED
        wanted = None if names is None else set(names)
        out = {}
        for p in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            if wanted is not None and p.stem not in wanted:
                continue
            with contextlib.suppress(OSError, ValueError):
                out[p.stem] = json.loads(p.read_text(encoding="utf-8"))
        return out

    def prune(self, keep: Iterable[str]) -> dict[str, int]:
        """Remove every entry that no usage record among ``keep`` lists, and the other usage records.

        Called when the grid's collection finishes with the names of the configured cells (and of the
        placebo): what is left is at most one grid's distinct nuisances, the fits a rerun of any of its
        cells would ask for. Removing an entry never changes a result, only whether it is refitted.

        Returns
        -------
        dict
            ``removed``, ``removed_bytes``, ``kept``, ``kept_bytes``.
        """
        keep = set(keep)
        used_dir = self.folder / USED
        needed: set[str] = set()
        for name, record in self.usage().items():
            if name in keep:
                needed.update(record.get("keys", []))
            else:
                with contextlib.suppress(OSError):
                    (used_dir / f"{name}.json").unlink()
        stats = {"removed": 0, "removed_bytes": 0, "kept": 0, "kept_bytes": 0}
        if not self.folder.is_dir():
            return stats
        now = time.time()
        for sub in self.folder.iterdir():
            if not sub.is_dir() or sub.name == USED:
                continue
            for f in sub.iterdir():
                try:
                    size = f.stat().st_size
                    if f.name.endswith(".tmp"):
                        if now - f.stat().st_mtime > STALE_TMP_SECONDS:
                            f.unlink()
                        continue
                    if f.name.split(".", 1)[0] in needed:
                        stats["kept"] += 1
                        stats["kept_bytes"] += size
                    else:
                        f.unlink()
                        stats["removed"] += 1
                        stats["removed_bytes"] += size
                except OSError:
                    continue
        return stats
