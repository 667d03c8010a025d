"""``regdml run``: materialize every asset of a delivery through Dagster, on the instance the UI shows."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import dagster as dg

from assets.partitions import CELL_DIM, DELIVERIES_NAME, add_cells, cell_partition_key
from assets.raw.defs import CONFIG_KEYS, INPUT_KEYS
from assets.resources import DEFAULT_MEMORY, RegdmlResource, RunPaths, default_workdir, parse_memory
from data_contracts.cells import cell_of_key, estimation_cells
from data_contracts.settings import Settings, SettingsError
from pipelines.instance import get_instance
from pipelines.jobs import CELLS_JOB, FINISH_JOB, PREPARE_JOB


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--delivery", required=True, type=Path, help="Delivery folder (read-only)")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="Work folder for outputs and the Dagster instance (default: $REGDML_WORKDIR, else ./work)",
    )
    parser.add_argument(
        "--config", type=Path, default=None, help="Run configuration YAML (default: the plan's)"
    )
    parser.add_argument(
        "--truth",
        type=Path,
        default=None,
        help="Ground-truth JSON of a synthetic delivery, shown beside the estimates in the report",
    )
    parser.add_argument(
        "--memory",
        default=None,
        help=f"Memory budget of the run, e.g. 4GB (default: $REGDML_MEMORY, else {DEFAULT_MEMORY}); "
        "DuckDB gets 60%% of it and spills beyond, staging sizes its chunks from it",
    )
    parser.add_argument(
        "--dask",
        default=None,
        metavar="WHERE",
        help="Where the estimation's learners are fitted: 'process' (default), 'local[:workers]', a Dask "
        "scheduler address (tcp://host:8786) or 'slurm[:jobs]' (default: $REGDML_DASK, else process)",
    )
    parser.add_argument(
        "--final",
        action="store_true",
        help="A final run: refused unless estimation.n_reps >= 5 (same as 'final: true' under estimation in "
        "the configuration); without it a run with fewer repetitions is marked exploratory",
    )
    parser.add_argument(
        "--until",
        choices=["analysis", "estimation", "all"],
        default="all",
        help="Stop after the analysis table, after the estimation cells, or run everything (default)",
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        help="Show Dagster's own log lines and the Python stack trace of a failed step (default: regdml's "
        "short messages only)",
    )


def _log(msg: str) -> None:
    print(f"[regdml] {msg}", flush=True)


def _debug() -> bool:
    return Settings.from_env().debug


# Warnings the run's steps logged (context.log.warning), collected from the event log of every run that
# regdml starts and printed once, at the end: without --debug Dagster's console shows nothing.
_WARNINGS: list[str] = []
# What failed in this run (headline, details), printed as the last lines of the output.
_FAILURES: list[tuple[str, str]] = []


def _fail(headline: str, details: str = "") -> None:
    _FAILURES.append((headline, details))


def _collect_warnings(instance: dg.DagsterInstance, run_id: str) -> None:
    import logging

    for entry in instance.all_logs(run_id):
        if entry.is_dagster_event or entry.level < logging.WARNING or entry.level >= logging.ERROR:
            continue
        msg = (entry.user_message or "").strip()
        if msg and msg not in _WARNINGS:
            _WARNINGS.append(msg)


def _job_keys(defs: dg.Definitions, job_name: str) -> list[dg.AssetKey]:
    job = defs.resolve_job_def(job_name)
    return sorted(job.asset_layer.executable_asset_keys, key=lambda k: k.to_user_string())


def _outdated(
    defs: dg.Definitions, instance: dg.DagsterInstance, job_name: str, partition: str
) -> list[dg.AssetKey]:
    """The job's assets that are missing or stale for ``partition``, with everything downstream of them
    in the job: their inputs (delivered files, configuration, code versions) changed since they were
    last materialized. An up-to-date asset is not recomputed."""
    # Dagster 1.13 (pinned) has no public API for an asset's stale status outside a request context; the
    # UI's resolver is used with the plain loading context Dagster provides for that (named "ForTest").
    # tests/pipelines/test_pl_run.py checks a rerun with nothing changed recomputes nothing.
    from dagster._core.definitions.data_version import CachingStaleStatusResolver, StaleStatus
    from dagster._core.loader import LoadingContextForTest

    graph = defs.resolve_asset_graph()
    keys = _job_keys(defs, job_name)
    resolver = CachingStaleStatusResolver(instance, graph, LoadingContextForTest(instance))
    outdated = [k for k in keys if resolver.get_status(k, partition) != StaleStatus.FRESH]
    if not outdated:
        return []
    closure = dg.AssetSelection.assets(*outdated).downstream().resolve(graph)
    return [k for k in keys if k in closure]


def _config_side(defs: dg.Definitions) -> set[dg.AssetKey]:
    """The configuration's section assets (``assets/raw/defs.py: CONFIG_KEYS``) and what reads them."""
    graph = defs.resolve_asset_graph()
    present = [k for k in CONFIG_KEYS if graph.has(k)]
    return set(dg.AssetSelection.assets(*present).downstream().resolve(graph)) if present else set()


def _execute(
    defs: dg.Definitions,
    job_name: str,
    instance: dg.DagsterInstance,
    partition_key: str | None = None,
    asset_selection: list[dg.AssetKey] | None = None,
):
    job = defs.resolve_job_def(job_name)
    # Dagster's console lines (a failed step's stack trace, "Dependencies ... not executed" for every step
    # after it) only with --debug or an explicit REGDML_LOG_LEVEL; regdml prints what matters itself.
    settings = Settings.from_env()
    log_level = settings.log_level_or(settings.debug)
    result = job.execute_in_process(
        instance=instance,
        partition_key=partition_key,
        asset_selection=asset_selection,
        raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
    )
    _collect_warnings(instance, result.run_id)
    return result


# REGDML_ISOLATE (ISOLATE_SETTINGS): whether each estimation cell (and the finishing job) runs in a fresh
# process.
# 'auto' isolates when a cell's covariate matrix (float32) is at least this share of the memory budget
# (4 GB: about 420,000 meetings with 150 covariates). The fits of a large table then return everything
# they allocated to the machine when their process ends, whatever the allocators keep; a small table's
# cells stay in this process (a fresh process costs several seconds of imports).
ISOLATE_SHARE = 1 / 16


def isolate_setting(raw: str | None = None) -> str:
    """``REGDML_ISOLATE`` (or ``raw``), validated: ``auto`` (default), ``always`` or ``never``."""
    if raw is None:
        return Settings.from_env().isolate
    return Settings.from_env({"REGDML_ISOLATE": raw}).isolate


def covariate_matrix_bytes(analysis_dir: Path) -> int:
    """Bytes of the float32 covariate matrix of the analysis table in ``analysis_dir`` (rows x covariates
    x 4), from the Parquet footer and the column dictionary: nothing per person is read."""
    import polars as pl

    rows = pl.scan_parquet(analysis_dir / "analysis_table.parquet").select(pl.len()).collect().item()
    dictionary = pl.read_parquet(analysis_dir / "column_dictionary.parquet", columns=["role"])
    return int(rows) * int((dictionary.get_column("role") == "covariate").sum()) * 4


def isolate_estimation(resource: RegdmlResource, paths: RunPaths, setting: str) -> bool:
    """Whether the estimation cells and the finishing job run in fresh processes (see ISOLATE_SHARE)."""
    if setting != "auto":
        return setting == "always"
    try:
        matrix = covariate_matrix_bytes(paths.stage("analysis"))
    except OSError:
        return False
    return matrix >= resource.memory_bytes() * ISOLATE_SHARE


# Cells at a time in process mode (several cells side by side in spawned processes, learners one thread
# each). A cell's process holds the imported libraries (about PROCESS_BYTES) and several copies of the
# covariate matrix (the prepared matrix, the learners' training copies, the sensitivity subsample): about
# CELL_MATRIX_COPIES of it, measured with the demo's cells. REGDML_CELLS overrides ('1' for one at a time).
PROCESS_BYTES = 700 * 2**20
CELL_MATRIX_COPIES = 8
# Cells whose fits others read (models.nuisance_cache) go first, so that a reader running beside them
# does not fit the same nuisance a second time: IRM-ATT's fits are read by IRM-ATE, PLR (the propensity)
# and the modality design (the outcome model among in-person meetings).
READER_DESIGNS = ("irm_ate", "plr", "modality")


def cores() -> int:
    """Cores this process may use (its affinity where the platform says, e.g. under Slurm or a cgroup)."""
    try:
        return len(os.sched_getaffinity(0))  # windows-ok: AttributeError there, handled below
    except AttributeError:  # Windows, macOS
        return os.cpu_count() or 1


def cell_concurrency(resource: RegdmlResource, paths: RunPaths, raw: str | None = None) -> int:
    """Estimation cells at a time in process mode: ``REGDML_CELLS`` (or ``raw``) if set, else as many as
    there are cores and the memory budget holds (each cell's process: :data:`PROCESS_BYTES` plus
    :data:`CELL_MATRIX_COPIES` covariate matrices), at least 1."""
    settings = Settings.from_env() if raw is None else Settings.from_env({"REGDML_CELLS": raw})
    if settings.cells is not None:
        return settings.cells
    try:
        matrix = covariate_matrix_bytes(paths.stage("analysis"))
    except OSError:
        return 1
    per_cell = PROCESS_BYTES + CELL_MATRIX_COPIES * matrix
    return max(1, min(cores(), resource.memory_bytes() // per_cell))


def fitters_first(keys: list) -> list:
    """The cells in the order they are run: those whose fits other cells read first (see
    :data:`READER_DESIGNS`), each group in the configuration's order."""

    def design(key) -> str:
        dims = key.keys_by_dimension if isinstance(key, dg.MultiPartitionKey) else {}
        return cell_of_key(str(dims.get(CELL_DIM, key))).design

    return sorted(keys, key=lambda k: design(k) in READER_DESIGNS)


def _resource_fields(resource: RegdmlResource, dask: str) -> dict:
    fields = {name: getattr(resource, name) for name in (
        "delivery_dir", "delivery_root", "workdir", "config_path", "memory_limit", "duckdb_memory_limit",
        "duckdb_threads", "polars_threads", "truth_path", "dask_scratch", "final")}  # fmt: skip
    fields["dask"] = dask
    return fields


def _cell_run(fields: dict, dims: dict) -> tuple[bool, str, float]:
    """One estimation cell's Dagster run, in a process of its own (see :func:`_cells_in_processes`)."""
    from pipelines.definitions import build_definitions

    t1 = time.monotonic()
    resource = RegdmlResource(**fields)
    instance = get_instance(Path(fields["workdir"]))
    res = _execute(build_definitions(resource), CELLS_JOB, instance, partition_key=dg.MultiPartitionKey(dims))
    return res.success, "" if res.success else _failure_message(res), time.monotonic() - t1


def _finish_run(fields: dict, partition: str, selection: list[dg.AssetKey]) -> tuple[bool, str, str]:
    """The finishing job's Dagster run (estimates, placebos, power, report, bundle) in a process of its
    own; returns (success, failure message, run id)."""
    from pipelines.definitions import build_definitions

    resource = RegdmlResource(**fields)
    instance = get_instance(Path(fields["workdir"]))
    res = _execute(build_definitions(resource), FINISH_JOB, instance, partition_key=partition,
                   asset_selection=selection)  # fmt: skip
    return res.success, "" if res.success else _failure_message(res), res.run_id


def _spawn_pool(workers: int, fresh: bool):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        max_tasks_per_child=1 if fresh else None,
    )


def _cells_in_processes(
    resource: RegdmlResource, dask: str, keys: list, concurrent: int, report, fresh: bool = False
) -> list:
    """Run the cells' Dagster runs ``concurrent`` at a time in spawned processes: side by side, all
    sending their fold tasks to one Dask scheduler (``dask`` is its address), or one at a time in process
    mode, each in a fresh process (``fresh``). Each cell stays its own run, so a failed cell fails only its
    partition. Processes, not threads: Dagster's in-process execution deadlocks on the logging module's
    lock when two runs log from threads of one process (seen with Dagster 1.13)."""
    fields = _resource_fields(resource, dask)
    failed = []
    with _spawn_pool(concurrent, fresh) as pool:
        futures = {pool.submit(_cell_run, fields, dict(key.keys_by_dimension)): key for key in keys}
        for future in futures:
            key = futures[future]
            ok, message, seconds = future.result()
            report(key, ok, seconds)
            if not ok:
                failed.append((key, message))
    return failed


def _error_text(message: str) -> str:
    """A step's error without Python's class prefix (``dagster._core...Failure: ``)."""
    first, _, rest = message.strip().partition(": ")
    return rest if rest and "." in first and " " not in first else message.strip()


def _step_error(err) -> str:
    """A failed step's error as the user should read it. Dagster wraps an exception raised in an op or an
    asset check ('Error occurred while executing op ...:') and keeps the exception as the cause, whose
    message is the answer (e.g. DuckDB's out-of-memory error), so the wrappers are unwound."""
    while err.cause is not None and _error_text(err.message).startswith("Error occurred while executing"):
        err = err.cause
    return _error_text(err.message)


def _failure_message(result) -> str:
    """What failed, once: each failed step's message (the problems of a refused delivery name file,
    column and count), then the failed checks that no step message already covers."""
    lines: list[str] = []
    failed_steps = set()
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data is not None:
            err = event.step_failure_data.error
            msg = _step_error(err) if err else "unknown error"
            failed_steps.add(event.step_key)
            lines.append(f"  step {event.step_key}: " + msg.replace("\n", "\n    "))
    for ev in result.get_asset_check_evaluations():
        if not ev.passed and ev.asset_key.to_user_string() not in failed_steps:
            lines.append(
                f"  check {ev.asset_key.to_user_string()}:{ev.check_name} failed ({ev.severity.value})"
            )
    return "\n".join(lines) or "  (no step failure recorded; see the run in the Dagster UI)"


def run_delivery(
    delivery: Path,
    workdir: Path | None = None,
    config: Path | None = None,
    truth: Path | None = None,
    until: str = "all",
    dask: str | None = None,
    final: bool = False,
) -> tuple[int, RunPaths]:
    """Run the pipeline for one delivery; return (exit code, paths).

    ``dask`` (else ``REGDML_DASK``) chooses where the estimation's learners are fitted
    (:func:`models.engine.engine_from_setting`); with a Dask cluster, ``REGDML_DASK_CELLS`` cells
    (default 4) run side by side, each as its own Dagster run. Results and data versions do not depend on it.
    """
    try:
        setting = Settings.from_env().dask if dask is None else dask
    except SettingsError as e:
        raise SystemExit(f"regdml run: {e}") from None
    try:
        return _run_delivery(delivery, workdir, config, truth, until, setting, final)
    finally:
        from models.engine import close_clients

        # this process's connections, and the cluster regdml started for 'local'/'slurm' (an external
        # scheduler and its workers stay up)
        close_clients()


def _run_delivery(
    delivery: Path,
    workdir: Path | None,
    config: Path | None,
    truth: Path | None,
    until: str,
    dask: str,
    final: bool = False,
) -> tuple[int, RunPaths]:
    from models.engine import engine_from_setting
    from pipelines.definitions import build_definitions

    delivery = delivery.resolve()
    if not delivery.is_dir():
        raise SystemExit(f"regdml run: delivery folder {delivery} does not exist")
    try:  # the environment's settings, read once for the run
        settings = Settings.from_env()
    except SettingsError as e:
        raise SystemExit(f"regdml run: {e}") from None
    workdir = (workdir or default_workdir(settings)).resolve()
    os.environ["REGDML_WORKDIR"] = str(workdir)
    instance = get_instance(workdir)
    # the command line's options win over the environment; config and truth only from the command line
    resource = RegdmlResource.from_settings(
        settings,
        delivery_dir=str(delivery),
        delivery_root=str(delivery.parent),
        workdir=str(workdir),
        config_path=str(config.resolve()) if config else "",
        truth_path=str(truth.resolve()) if truth else settings.truth,
        dask=dask,
        final=final,
    )
    defs = build_definitions(resource)
    paths = resource.paths()
    _log(f"delivery {delivery}")
    _log(f"work folder {paths.work_dir}; Dagster instance {Settings.from_env().dagster_home}")

    job_names = {j.name for j in defs.resolve_all_job_defs()}
    # Each delivery folder is one partition of the "deliveries" dynamic partitions definition.
    partition = delivery.name
    if partition not in instance.get_dynamic_partitions(DELIVERIES_NAME):
        instance.add_dynamic_partitions(DELIVERIES_NAME, [partition])
    t0 = time.monotonic()
    # 1. Hash the delivered files and the configuration's sections (cheap): their data versions say which
    # registers changed and whether the estimation's or the value table's settings did.
    input_keys = [k for k in _job_keys(defs, PREPARE_JOB) if k in set(INPUT_KEYS)]
    result = _execute(defs, PREPARE_JOB, instance, partition_key=partition, asset_selection=input_keys)
    if not result.success:
        _fail(f"reading the delivery failed (run id {result.run_id})", _failure_message(result))
        return 1, paths

    # 2. Everything up to the analysis table that is missing or stale (and what depends on it).
    todo = _outdated(defs, instance, PREPARE_JOB, partition)
    if todo:
        result = _execute(defs, PREPARE_JOB, instance, partition_key=partition, asset_selection=todo)
        if not result.success:
            _fail(
                f"the run stopped before the analysis table (run id {result.run_id})",
                _failure_message(result),
            )
            return 1, paths
    # the prepare job also holds assets that read the estimation's settings (the reversed trial's power):
    # recomputing only those is not a table build
    config_side = _config_side(defs)
    built = [k for k in todo if k not in config_side]
    if built:
        _log(
            f"registers staged and analysis table built in {time.monotonic() - t0:.0f} s ({len(todo)} assets)"
        )
    else:
        _log("registers and analysis table are up to date: nothing recomputed")
        if todo:
            names = ", ".join(k.to_user_string() for k in todo)
            _log(f"recomputed for the changed estimation settings: {names}")
    if until == "analysis" or CELLS_JOB not in job_names:
        return 0, paths

    # 3. The estimation cells this configuration asks for (added as partitions if new), each in its own run,
    # if missing or stale.
    cells = estimation_cells(resource.run_config())
    add_cells(instance, cells)
    keys = [cell_partition_key(partition, c) for c in cells]
    try:
        engine = engine_from_setting(
            resource.dask,
            scratch=resource.dask_scratch or str(paths.tmp_dir / "dask"),
            name="--dask/REGDML_DASK",
        )
    except (ValueError, OSError) as e:
        _fail(f"estimation not started: {e}")
        return 1, paths
    concurrent = 1
    if engine.name == "dask":
        concurrent = settings.dask_cells
        _log(f"estimation on {engine.describe()}, {concurrent} cells at a time")
    try:
        isolate = engine.name != "dask" and isolate_estimation(resource, paths, isolate_setting())
    except ValueError as e:
        _fail(f"estimation not started: {e}")
        return 1, paths
    if isolate:
        _log("estimation cells and the finishing job each in a fresh process (REGDML_ISOLATE)")
    elif engine.name != "dask":
        try:
            concurrent = cell_concurrency(resource, paths)
        except ValueError as e:
            _fail(f"estimation not started: {e}")
            return 1, paths
    todo_cells = []
    skipped = 0
    for key in keys:
        if _outdated(defs, instance, CELLS_JOB, str(key)):
            todo_cells.append(key)
        else:
            skipped += 1
    index = {str(k): i for i, k in enumerate(keys, 1)}

    def report(key, ok: bool, seconds: float) -> None:
        _log(
            f"estimation cell {index[str(key)]}/{len(keys)} {key.keys_by_dimension.get(CELL_DIM, key)}: "
            f"{'ok' if ok else 'FAILED'} ({seconds:.0f} s)"
        )

    todo_cells = fitters_first(todo_cells)
    failed = []
    if isolate and todo_cells:
        failed = _cells_in_processes(resource, "process", todo_cells, 1, report, fresh=True)
    elif concurrent == 1 or len(todo_cells) < 2:
        for key in todo_cells:
            t1 = time.monotonic()
            res = _execute(defs, CELLS_JOB, instance, partition_key=key)
            report(key, res.success, time.monotonic() - t1)
            if not res.success:
                failed.append((key, _failure_message(res)))
    elif engine.name != "dask":
        _log(f"estimation in process, {concurrent} cells at a time (REGDML_CELLS to change)")
        failed = _cells_in_processes(resource, "process", todo_cells, concurrent, report)
    else:
        # the cluster regdml may have started ('local', 'slurm') is reached by its address
        failed = _cells_in_processes(
            resource, engine.client.scheduler.address, todo_cells, concurrent, report
        )
    if skipped:
        _log(f"{skipped} of {len(keys)} estimation cells up to date: not recomputed")
    for key, msg in failed:
        _fail(f"estimation cell {key} failed", msg)
    if until == "estimation" or FINISH_JOB not in job_names:
        return (1 if failed else 0), paths

    # 4. Collected estimates, diagnostics, report and export bundle, if missing or stale.
    todo = _outdated(defs, instance, FINISH_JOB, partition)
    if todo:
        if isolate:
            with _spawn_pool(1, fresh=True) as pool:
                ok, message, run_id = pool.submit(
                    _finish_run, _resource_fields(resource, resource.dask), partition, todo
                ).result()
        else:
            result = _execute(defs, FINISH_JOB, instance, partition_key=partition, asset_selection=todo)
            ok, run_id = result.success, result.run_id
            message = "" if ok else _failure_message(result)
        if not ok:
            _fail(f"the run stopped after estimation (run id {run_id})", message)
            return 1, paths
    else:
        _log("estimates, report and export bundle are up to date: nothing recomputed")
    _log(f"finished in {time.monotonic() - t0:.0f} s")
    return (1 if failed else 0), paths


def run(args: argparse.Namespace) -> int:
    from assets.resources import final_overrides, load_run_config
    from data_contracts.config import ConfigError
    from pipelines.summary import print_run_summary

    final = bool(getattr(args, "final", False))
    try:  # refused before any work: a wrong configuration, or --final with too few repetitions
        cfg = load_run_config(args.config, overrides=final_overrides(final))
    except ConfigError as e:
        raise SystemExit(f"regdml run: {e}") from None

    if args.memory:
        try:
            parse_memory(args.memory, "--memory")
        except ValueError as e:
            raise SystemExit(f"regdml run: {e}") from None
        # the environment, so that every process of the run (and Dagster's run workers) sees it
        os.environ["REGDML_MEMORY"] = args.memory

    if getattr(args, "debug", False):
        os.environ["REGDML_DEBUG"] = "1"
    _WARNINGS.clear()
    _FAILURES.clear()
    code, paths = run_delivery(
        args.delivery, args.workdir, args.config, args.truth, args.until, args.dask, final=final
    )
    if code == 0:
        print_run_summary(
            paths,
            truth=args.truth,
            min_cell=cfg.disclosure.min_cell,
            value=cfg.value,
            cfg=cfg,
            estimation=cfg.estimation,
        )
    print_warnings()
    if code != 0:
        print_failure(paths)
    return code


def print_warnings() -> None:
    """The warnings this run's steps logged, once each (e.g. a covariate the delivery cannot support)."""
    if _WARNINGS:
        print("\n== Warnings", flush=True)
        for w in _WARNINGS:
            print(f"- {w}", flush=True)


# DuckDB's message when a query needs more than its memory limit and cannot spill
OUT_OF_MEMORY = "Out of Memory Error"


def print_failure(paths: RunPaths) -> None:
    """The last lines of a failed run: what failed (file, column, count), what to do, where the last good
    results are. Never an earlier run's results printed as this run's."""
    print("\n== regdml run FAILED", flush=True)
    for headline, details in _FAILURES or [("the run failed (no step failure recorded)", "")]:
        print(headline + (":" if details else ""), flush=True)
        if details:
            print(details, flush=True)
    refused = any("breaks its contract" in d or "is missing" in d for _, d in _FAILURES)
    if refused:
        print(
            "What to do: correct the delivery (or the file-name patterns and codebook in the run configuration) "
            "and run again. Staged files from the last good delivery were left as they were.",
            flush=True,
        )
    elif any(OUT_OF_MEMORY in d for _, d in _FAILURES):
        print(
            "What to do: give the run more memory (--memory or REGDML_MEMORY, e.g. 8GB: DuckDB gets 60% of it "
            "and spills to disk beyond it) or run when the server has more free, and run again; finished "
            "steps are not recomputed.",
            flush=True,
        )
    elif not _debug():
        print("What to do: run again with --debug to see the full error and Dagster's log.", flush=True)
    est = paths.work_dir / "estimation" / "estimates.parquet"
    if est.is_file():
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(est.stat().st_mtime))
        print(
            f"Results of an earlier run (written {when}) are still in {paths.work_dir}; they are not this "
            "run's results.",
            flush=True,
        )
