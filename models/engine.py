"""Where the cross-fitting runs: in this process (the default) or as tasks on a Dask cluster.

Every learner regdml fits is one *fold task*: fit a learner on the training rows of fold ``k`` of
repetition ``r`` and predict that fold's test rows (:func:`fit_fold`). The same function runs in this
process or on a Dask worker, on the same rows in the same order, with a learner seeded from the design's
seed and the repetition only (:class:`LearnerSpec`), so the answers do not depend on where a task runs.

On Dask the data reach the workers as Parquet files on storage that the workers share with the caller
(a work folder on the cluster's shared file system), never as pickled frames: the covariate matrix and
fold assignment are written once per fit (:class:`FoldData`), and a task carries only the file's path,
the column names and a learner description. The predictions come back to the calling process in memory
(they are never logged).

With a :class:`models.nuisance_cache.NuisanceCache` (``estimation.share_fits``) an engine reads a job whose
fit another cell already made, by the content of what the fit reads, and fits (or sends as fold tasks)
only the others: the same numbers either way.

No Dagster here; the pipeline's resource and ``regdml run --dask`` choose the engine
(:func:`engine_from_setting`).
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models._checks import _check_in, _check_int
from models.learners import KINDS, make_learner
from models.nuisance_cache import NuisanceCache, array_digest, mask_digest

Fold = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class LearnerSpec:
    """A learner as plain data (picklable, cheap to send): what :func:`models.learners.make_learner` needs.

    Parameters
    ----------
    kind : {'lgbm', 'lasso', 'rf', 'stack'}
    task : {'regression', 'classification'}
        A classifier predicts ``predict_proba[:, 1]``.
    seed : int
        Random state: from the design's seed and the repetition, never from where the task runs.
    n_estimators, n_threads : int
    poly2 : bool
    params : tuple of (str, value)
        LightGBM settings chosen by tuning (:mod:`models.tuning`), as sorted pairs so the spec stays
        hashable; empty for the fixed settings. A stack: ``(("members", ((kind, params), ...)),
        ("weights", (w, ...)))``, nested tuples, so it stays hashable and picklable too.
    """

    kind: str
    task: str
    seed: int
    n_estimators: int = 200
    n_threads: int = 1
    poly2: bool = False
    params: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        _check_in("kind", self.kind, KINDS)
        _check_in("task", self.task, ("regression", "classification"))
        _check_int("seed", self.seed, 0)

    @property
    def proba(self) -> bool:
        return self.task == "classification"

    def make(self) -> Any:
        return make_learner(
            self.kind,
            self.task,
            seed=self.seed,
            n_estimators=self.n_estimators,
            n_threads=self.n_threads,
            poly2=self.poly2,
            params=dict(self.params),
        )


@dataclass(frozen=True)
class FitJob:
    """One cross-fitted nuisance: a learner fitted fold by fold on one target.

    Parameters
    ----------
    learner : LearnerSpec
    target : str
        Name of the target among :attr:`FoldData.columns`.
    rep : int
        Repetition of the sample split (index into the fold assignment).
    rows : str or None
        Name of a boolean column: the rows in play (e.g. those kept after trimming). The predictions are
        returned for these rows, in order. ``None``: every row.
    fit_mask : str or None
        Name of a boolean column further restricting the training rows (e.g. the controls).
    what : str
        The nuisance in words, for error messages.
    """

    learner: LearnerSpec
    target: str
    rep: int = 0
    rows: str | None = None
    fit_mask: str | None = None
    what: str = "nuisance"


class FoldData:
    """What a set of :class:`FitJob` reads: the covariates, named 1-d columns and the fold assignment.

    Parameters
    ----------
    X : numpy.ndarray
        Covariates, ``(n, p)``; stored as float32 (the dtype every learner gets).
    columns : dict of str to numpy.ndarray
        Targets (float64) and row masks (bool), each of length ``n``. May be extended between calls of
        :meth:`Engine.run` (e.g. the rows kept after trimming).
    folds : list of list of (train, test)
        Per repetition, the folds as :func:`models.folds.person_folds` returns them; every row is in
        exactly one test fold of each repetition.
    """

    def __init__(self, X: np.ndarray, columns: dict[str, np.ndarray], folds: Sequence[Sequence[Fold]]):
        self.X = np.ascontiguousarray(X, dtype=np.float32)
        n = self.X.shape[0]
        self.columns = dict(columns)
        self.n_folds = len(folds[0])
        ids = np.full((len(folds), n), -1, dtype=np.int16)
        for r, rep in enumerate(folds):
            for k, (_, test) in enumerate(rep):
                ids[r, test] = k
        if (ids < 0).any():
            raise ValueError("folds: every row must be in a test fold of every repetition")
        self.fold_ids = ids
        self._path: Path | None = None  # where the covariates were written for Dask (see DaskEngine)
        # hashes for the shared fits (models.nuisance_cache), each computed once per object
        self._x_digest: str | None = None
        self._fold_digests: dict[int, str] = {}
        self._col_digests: dict[tuple[str, str], tuple[np.ndarray, str]] = {}

    @property
    def n(self) -> int:
        return self.X.shape[0]

    def n_rows(self, job: FitJob) -> int:
        """Rows ``job``'s predictions cover (its ``rows``, else all)."""
        return self.n if job.rows is None else int(np.count_nonzero(self.columns[job.rows]))

    @property
    def x_digest(self) -> str:
        """A hash of the covariates (once per object: they are not changed after construction)."""
        if self._x_digest is None:
            self._x_digest = array_digest(self.X)
        return self._x_digest

    def fold_digest(self, rep: int) -> str:
        """A hash of repetition ``rep``'s fold assignment."""
        if rep not in self._fold_digests:
            self._fold_digests[rep] = array_digest(self.fold_ids[rep])
        return self._fold_digests[rep]

    def column_digest(self, name: str, dtype: Any = None) -> str:
        """A hash of column ``name`` (as ``dtype`` if given); recomputed when the column is replaced."""
        arr = self.columns[name]
        memo = self._col_digests.get((name, str(dtype)))
        if memo is None or memo[0] is not arr:
            memo = (arr, array_digest(np.asarray(arr, dtype=dtype)))
            self._col_digests[(name, str(dtype))] = memo
        return memo[1]

    def mask_digest(self, name: str | None) -> str:
        """A hash of the boolean column ``name``; every row (``None``) and an all-true mask are the same."""
        if name is None:
            return mask_digest(None)
        arr = self.columns[name]
        memo = self._col_digests.get((name, "mask"))
        if memo is None or memo[0] is not arr:
            memo = (arr, mask_digest(arr))
            self._col_digests[(name, "mask")] = memo
        return memo[1]


def _mask(columns: dict[str, np.ndarray], name: str | None, n: int) -> np.ndarray:
    return np.ones(n, dtype=bool) if name is None else np.asarray(columns[name], dtype=bool)


def fold_rows(
    fold_ids: np.ndarray, columns: dict[str, np.ndarray], job: FitJob, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Training and test rows (indices into all rows, ascending) of fold ``k`` of ``job``.

    The same rows in the same order as fitting on the kept rows with the folds restricted to them
    (:func:`models.folds.restrict_folds`), so both routes give identical fits.
    """
    fid = fold_ids[job.rep]
    n = fid.shape[0]
    rows = _mask(columns, job.rows, n)
    test = np.flatnonzero(rows & (fid == k))
    train = np.flatnonzero(rows & (fid != k) & _mask(columns, job.fit_mask, n))
    return train, test


def check_fold(fold_ids: np.ndarray, columns: dict[str, np.ndarray], job: FitJob, k: int) -> None:
    """Refuse a fold that cannot be fitted (no training rows; one class for a classifier), before any fit.

    Raises
    ------
    ValueError
        Naming the fold, the repetition and the nuisance; never a value of a person.
    """
    train, _ = fold_rows(fold_ids, columns, job, k)
    if train.size == 0:
        raise ValueError(f"fold {k + 1} of repetition {job.rep + 1}: no training rows for {job.what}")
    if job.learner.proba:
        classes = np.unique(np.asarray(columns[job.target])[train])
        if classes.size < 2:
            raise ValueError(
                f"fold {k + 1} of repetition {job.rep + 1}: the training rows for {job.what} hold a single class "
                f"({classes.tolist()}); use fewer folds or more data"
            )


def fit_fold(
    X: np.ndarray, fold_ids: np.ndarray, columns: dict[str, np.ndarray], job: FitJob, k: int
) -> np.ndarray:
    """Fit ``job``'s learner on the training rows of fold ``k`` and predict its test rows (ascending)."""
    check_fold(fold_ids, columns, job, k)
    train, test = fold_rows(fold_ids, columns, job, k)
    target = np.asarray(columns[job.target], dtype=np.float64)
    est = job.learner.make()
    est.fit(X[train], target[train])
    if not test.size:
        return np.empty(0, dtype=np.float64)
    pred = est.predict_proba(X[test])[:, 1] if job.learner.proba else est.predict(X[test])
    return np.asarray(pred, dtype=np.float64)


def assemble(
    fold_ids: np.ndarray, columns: dict[str, np.ndarray], job: FitJob, preds: Sequence[np.ndarray]
) -> np.ndarray:
    """The cross-fitted predictions of ``job`` over its rows, from the per-fold predictions."""
    n = fold_ids.shape[1]
    out = np.full(n, np.nan, dtype=np.float64)
    for k, p in enumerate(preds):
        _, test = fold_rows(fold_ids, columns, job, k)
        out[test] = p
    return out if job.rows is None else out[_mask(columns, job.rows, n)]


class Engine:
    """In process (the default): fold tasks run one after the other in the calling process.

    Parameters
    ----------
    cache : models.nuisance_cache.NuisanceCache, optional
        Shared nuisance fits: a job whose fit is in the cache is read from it, the others are fitted and
        stored (the same numbers either way). ``None`` (the default): every job is fitted.
    """

    name = "process"
    cache: NuisanceCache | None = None  # also for a subclass that does not call __init__

    def __init__(self, cache: NuisanceCache | None = None):
        if cache is not None and not isinstance(cache, NuisanceCache):
            raise TypeError(
                f"cache must be a models.nuisance_cache.NuisanceCache or None; got {type(cache).__name__}"
            )
        self.cache = cache

    @contextlib.contextmanager
    def scope(self) -> Iterator[Engine]:
        """A context for one estimate (the Dask engine keeps that estimate's Parquet files in it)."""
        yield self

    def run(self, data: FoldData, jobs: Sequence[FitJob]) -> list[np.ndarray]:
        """Cross-fitted predictions of every job (in order), each over its rows."""
        for job in jobs:  # refuse an unfittable fold before fitting anything
            for k in range(data.n_folds):
                check_fold(data.fold_ids, data.columns, job, k)
        if self.cache is None:
            return self._fit(data, jobs)
        return self.cache.run(data, jobs, self._fit)

    def _fit(self, data: FoldData, jobs: Sequence[FitJob]) -> list[np.ndarray]:
        """Fit ``jobs`` (checked already) fold by fold."""
        return [
            assemble(
                data.fold_ids,
                data.columns,
                job,
                [fit_fold(data.X, data.fold_ids, data.columns, job, k) for k in range(data.n_folds)],
            )
            for job in jobs
        ]

    def describe(self) -> str:
        return "in process"


IN_PROCESS = Engine()


# --------------------------------------------------------------------------------------------------------
# Dask


def _write_parquet(frame_columns: dict[str, np.ndarray], path: Path) -> Path:
    import polars as pl

    # Written straight to its final, never-reused (uuid) name: no worker is given the path before the
    # write returns, so none can see a half-written file, and no rename is needed (Windows refuses to
    # rename onto a file another process has open).
    pl.DataFrame({k: pl.Series(k, v) for k, v in frame_columns.items()}).write_parquet(path, statistics=False)
    return path


@functools.lru_cache(maxsize=2)
def _read_matrix(path: str) -> tuple[np.ndarray, np.ndarray]:
    """Covariates and fold assignment of a fit, read once per worker process (every fold task of the fit
    reads the same file; the file names are unique, so a cached entry is never stale)."""
    import polars as pl

    frame = pl.read_parquet(path)
    x_cols = [c for c in frame.columns if c.startswith("x")]
    f_cols = [c for c in frame.columns if c.startswith("fold_r")]
    X = (
        np.ascontiguousarray(frame.select(x_cols).to_numpy(), dtype=np.float32)
        if x_cols
        else np.zeros((frame.height, 0), np.float32)
    )
    ids = frame.select(f_cols).to_numpy().T.astype(np.int16)
    return X, ids


def dask_fit_fold(matrix_path: str, columns_path: str, job: FitJob, k: int) -> np.ndarray:
    """The fold task as it runs on a Dask worker: read the fit's Parquet files, then :func:`fit_fold`."""
    import polars as pl

    X, ids = _read_matrix(matrix_path)
    cols = {c: s.to_numpy() for c, s in pl.read_parquet(columns_path).to_dict().items()}
    return fit_fold(X, ids, cols, job, k)


class DaskEngine(Engine):
    """Fold tasks on a Dask cluster through ``client``; data as Parquet files under ``scratch``.

    Parameters
    ----------
    client : distributed.Client
    scratch : path
        A folder the workers can read at the same path (shared storage on a cluster).
    retries : int
        Retries of a fold task that raised (e.g. a shared file system hiccup). A worker that dies is a
        different matter: the scheduler reruns its tasks elsewhere by itself (``allowed-failures``).
    label : str
        How the engine was chosen (for messages).
    cache : models.nuisance_cache.NuisanceCache, optional
        Shared nuisance fits (see :class:`Engine`): looked up and stored in the calling process; only the
        fits not found become fold tasks.
    """

    name = "dask"

    def __init__(
        self,
        client: Any,
        scratch: str | os.PathLike,
        retries: int = 1,
        label: str = "dask",
        cache: NuisanceCache | None = None,
    ):
        super().__init__(cache)
        _check_int("retries", retries, 0, 10)
        self.client = client
        self.scratch = Path(scratch)
        self.retries = retries
        self.label = label
        self._dir: Path | None = None
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def scope(self) -> Iterator[Engine]:
        # one folder per estimate, removed afterwards; a scoped copy keeps concurrent estimates apart
        self.scratch.mkdir(parents=True, exist_ok=True)
        scoped = DaskEngine(self.client, self.scratch, self.retries, self.label, self.cache)
        scoped._dir = Path(tempfile.mkdtemp(prefix="fit-", dir=self.scratch))
        try:
            yield scoped
        finally:
            shutil.rmtree(scoped._dir, ignore_errors=True)

    def _folder(self) -> Path:
        if self._dir is None:  # used outside scope(): a folder that lives as long as the files are needed
            self.scratch.mkdir(parents=True, exist_ok=True)
            self._dir = Path(tempfile.mkdtemp(prefix="fit-", dir=self.scratch))
        return self._dir

    def _fit(self, data: FoldData, jobs: Sequence[FitJob]) -> list[np.ndarray]:
        folder = self._folder()
        with self._lock:
            if data._path is None or data._path.parent != folder:
                cols = {f"x{j}": data.X[:, j] for j in range(data.X.shape[1])}
                cols.update({f"fold_r{r}": data.fold_ids[r] for r in range(data.fold_ids.shape[0])})
                data._path = _write_parquet(cols, folder / f"matrix-{uuid.uuid4().hex}.parquet")
        needed = {name for job in jobs for name in (job.target, job.rows, job.fit_mask) if name}
        col_path = _write_parquet(
            {name: np.asarray(data.columns[name]) for name in sorted(needed)},
            folder / f"columns-{uuid.uuid4().hex}.parquet",
        )
        tag = uuid.uuid4().hex[:10]
        futures = [
            [
                self.client.submit(
                    dask_fit_fold,
                    str(data._path),
                    str(col_path),
                    job,
                    k,
                    key=f"regdml-fold-{tag}-{j}-r{job.rep}-k{k}",
                    pure=False,
                    retries=self.retries,
                )
                for k in range(data.n_folds)
            ]
            for j, job in enumerate(jobs)
        ]
        try:
            results = self.client.gather(futures)
        finally:
            for row in futures:
                for f in row:
                    f.release()
        return [
            assemble(data.fold_ids, data.columns, job, preds)
            for job, preds in zip(jobs, results, strict=True)
        ]

    def describe(self) -> str:
        return f"Dask ({self.label})"


# --------------------------------------------------------------------------------------------------------
# the setting


_CLIENTS: dict[str, Any] = {}
_CLIENTS_LOCK = threading.Lock()


def _check_setting(name: str, value: str) -> str:
    """``''``/``process``, ``local``/``local:N``, ``tcp://host:port`` (or ``tls://``), ``slurm``/``slurm:N``."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string; got {type(value).__name__}")
    v = value.strip()
    if v in ("", "process"):
        return "process"
    if v.startswith(("tcp://", "tls://", "ucx://")):
        host = v.split("://", 1)[1]
        if ":" not in host or not host.rsplit(":", 1)[1].isdigit():
            raise ValueError(f"{name} must be a scheduler address like tcp://host:8786; got {value!r}")
        return v
    for kind in ("local", "slurm"):
        if v == kind:
            return v
        if v.startswith(kind + ":"):
            n = v.split(":", 1)[1]
            if not n.isdigit() or int(n) < 1:
                raise ValueError(
                    f"{name}: the number after '{kind}:' must be a positive integer; got {value!r}"
                )
            return v
    raise ValueError(
        f"{name} must be 'process', 'local[:workers]', 'slurm[:jobs]' or a scheduler address "
        f"(tcp://host:port); got {value!r}"
    )


def slurm_cluster(jobs: int | None = None, **kwargs: Any) -> Any:
    """A ``dask_jobqueue.SLURMCluster`` for the estimation workers (nothing is submitted until it scales).

    The queue, account, cores, memory, walltime and the job script's prologue come from dask-jobqueue's
    configuration (``~/.config/dask/jobqueue.yaml``, key ``jobqueue.slurm``, or ``DASK_JOBQUEUE__SLURM__*``
    variables); ``kwargs`` override it. regdml sets one thread per worker process (LightGBM with one thread
    is the steady choice) unless ``kwargs`` say otherwise.

    Parameters
    ----------
    jobs : int, optional
        Slurm jobs to start (``cluster.scale(jobs=...)``); ``None`` starts none (e.g. to inspect
        ``job_script()``).
    """
    import dask
    from dask_jobqueue import SLURMCluster

    # One single-threaded worker process per core, whether the cores come from ``kwargs`` or (as with
    # REGDML_DASK=slurm) from jobqueue.yaml alone; dask-jobqueue's own split would give 8 cores as
    # 4 processes x 2 threads. A ``processes`` the researcher configured is kept.
    cores = kwargs.get("cores", dask.config.get("jobqueue.slurm.cores", None))
    if (
        cores is not None
        and "processes" not in kwargs
        and dask.config.get("jobqueue.slurm.processes", None) is None
    ):
        kwargs["processes"] = int(cores)
    cluster = SLURMCluster(**kwargs)
    if jobs:
        _check_int("jobs", jobs, 1)
        cluster.scale(jobs=jobs)
    return cluster


def _client_for(setting: str, timeout: float = 30.0, name: str = "setting") -> Any:
    from distributed import Client, LocalCluster

    with _CLIENTS_LOCK:
        client = _CLIENTS.get(setting)
        if client is not None and client.status == "running":
            return client
        if setting.startswith("local"):
            n = int(setting.split(":", 1)[1]) if ":" in setting else 2
            cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None)
            client = Client(cluster)
        elif setting.startswith("slurm"):
            jobs = int(setting.split(":", 1)[1]) if ":" in setting else 1
            client = Client(slurm_cluster(jobs=jobs))
        else:
            try:
                client = Client(setting, timeout=f"{timeout}s")
            except (OSError, TimeoutError) as e:
                raise ConnectionError(
                    f"{name}: no Dask scheduler answered at {setting!r} within {timeout:g} s ({type(e).__name__}); "
                    "start one (dask scheduler) or check the address"
                ) from e
        _CLIENTS[setting] = client
        return client


def engine_from_setting(
    setting: str | None,
    scratch: str | os.PathLike | None = None,
    retries: int = 1,
    connect_timeout: float = 30.0,
    name: str = "setting",
    cache: NuisanceCache | None = None,
) -> Engine:
    """The engine a setting names (``REGDML_DASK`` / ``--dask``).

    Parameters
    ----------
    setting : str or None
        ``None``, ``''`` or ``'process'``: in process. ``'local'`` or ``'local:N'``: a Dask cluster of N
        single-threaded worker processes on this machine (default 2), started once per process.
        ``'tcp://host:port'``: an existing Dask scheduler. ``'slurm'`` or ``'slurm:N'``: a
        dask-jobqueue ``SLURMCluster`` scaled to N jobs (default 1), see :func:`slurm_cluster`.
    scratch : path, optional
        Where fits write their Parquet files for the workers; must be readable by every worker at the
        same path. Default: ``REGDML_DASK_SCRATCH``, else the system's temporary folder (enough for
        workers on this machine only).
    retries : int
        Retries of a fold task that raised.
    connect_timeout : float
        Seconds to wait for a scheduler at an address.
    name : str
        How the setting is called where it came from (``--dask``, ``REGDML_DASK``), for messages.
    cache : models.nuisance_cache.NuisanceCache, optional
        Shared nuisance fits (see :class:`Engine`); ``None``: every fit is made.

    Returns
    -------
    Engine

    Raises
    ------
    ValueError
        A setting that is none of the above (the message names it).
    ConnectionError
        No scheduler answered at the address.
    """
    value = _check_setting(name, setting or "")
    if value == "process":
        return IN_PROCESS if cache is None else Engine(cache)
    from data_contracts.settings import Settings

    scratch = scratch or Settings.from_env().dask_scratch or Path(tempfile.gettempdir()) / "regdml-dask"
    return DaskEngine(
        _client_for(value, connect_timeout, name), scratch, retries=retries, label=value, cache=cache
    )


def close_clients() -> None:
    """Close the clients (and the clusters regdml started) of this process."""
    with _CLIENTS_LOCK:
        for client in _CLIENTS.values():
            cluster = getattr(client, "cluster", None)
            with contextlib.suppress(Exception):
                client.close()
            if cluster is not None:
                with contextlib.suppress(Exception):
                    cluster.close()
        _CLIENTS.clear()
