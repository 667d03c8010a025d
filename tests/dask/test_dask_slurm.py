"""``REGDML_DASK=slurm:1`` on a real single-node Slurm cluster (tests/dask/slurm.py): regdml's
dask-jobqueue path submits a real ``sbatch`` job, its workers connect back to the scheduler in this
process, read the scratch Parquet files and give the in-process grid's answers."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import dask
import dask_jobqueue  # noqa: F401 - its defaults must be in dask's config before dask.config.set
import pytest

from assets.estimation.logic import run_grid
from models.engine import close_clients, engine_from_setting

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        sys.platform == "win32",
        reason="starts Debian's munge and Slurm daemons and stops them by process id: POSIX only",
    ),
]

REPO = Path(__file__).resolve().parents[2]


def _worker_facts() -> tuple[str | None, str, str]:
    import models.engine

    return os.environ.get("SLURM_JOB_ID"), sys.executable, str(Path(models.engine.__file__).resolve())


# IRM-ATT, PLR and PLIV over both outcomes: 3 cells x 2 repetitions x 3 folds on the Slurm job.
CELLS = [("weeks_selfsupport_26w", "irm_att"), ("y_exit_13w", "plr"), ("weeks_selfsupport_26w", "pliv")]


def test_grid_through_real_sbatch_jobs_equals_in_process(
    slurm, grid_inputs, in_process_grid, tmp_path, monkeypatch, assert_same_cells
):
    from distributed import get_task_stream

    table, dictionary, cfg, all_cells = grid_inputs
    cells = [c for c in CELLS if c in all_cells]
    assert cells == CELLS
    assert slurm.nodes() == [("localhost", "idle")] and slurm.jobs() == []
    cores = min(2, slurm.cpus)
    monkeypatch.setenv("SLURM_CONF", str(slurm.conf))  # how sbatch, squeue and scancel find the cluster
    monkeypatch.setenv("REGDML_DASK", "slurm:1")
    # What a researcher writes in ~/.config/dask/jobqueue.yaml, for this machine: no account or
    # partition (the default one), this Python, the repository on the path, a local scratch (one node).
    jobqueue = {
        "jobqueue.slurm.cores": cores,
        "jobqueue.slurm.memory": "2GB",
        "jobqueue.slurm.walltime": "00:15:00",
        "jobqueue.slurm.python": sys.executable,
        "jobqueue.slurm.job-script-prologue": [
            f"export PYTHONPATH={REPO}",
            "export OMP_NUM_THREADS=1",
            "export POLARS_MAX_THREADS=1",
        ],
        "jobqueue.slurm.local-directory": str(tmp_path / "worker-local"),
        "jobqueue.slurm.log-directory": str(tmp_path / "worker-logs"),
        # the scheduler in this process listens on loopback only; its dashboard on any free port
        "jobqueue.slurm.scheduler-options": {"host": "127.0.0.1", "dashboard_address": "127.0.0.1:0"},
    }

    def diagnosis() -> str:
        logs = sorted((tmp_path / "worker-logs").glob("*"))
        workers = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in logs)
        return f"queue: {slurm.jobs()}\n{workers}\n{slurm.log_text()}"

    # The whole life of the cluster inside the configuration: closing it reads the configuration
    # again (a job's cores and memory), and without them it would fail to cancel its job.
    with dask.config.set(jobqueue):
        try:
            engine = engine_from_setting(
                os.environ["REGDML_DASK"], scratch=tmp_path / "scratch", name="REGDML_DASK"
            )
            client = engine.client
            script = client.cluster.job_script()
            assert f"{sys.executable} -m distributed.cli.dask_worker tcp://127.0.0.1:" in script
            assert "#SBATCH -A" not in script and "#SBATCH -p" not in script
            try:
                client.wait_for_workers(cores, timeout=120)
            except TimeoutError as e:
                raise AssertionError(f"{e}\n{diagnosis()}") from e

            # One job went through sbatch, and Slurm runs it on the node.
            job_ids = [job.job_id for job in client.cluster.workers.values()]
            assert len(job_ids) == 1
            assert slurm.jobs() == [(job_ids[0], "dask-worker", "R", "localhost")]
            # Its workers are processes of that job, on this Python and this checkout.
            facts = client.run(_worker_facts)
            assert len(facts) == cores
            assert [w["nthreads"] for w in client.scheduler_info()["workers"].values()] == [1] * cores
            assert set(facts.values()) == {(job_ids[0], sys.executable, _worker_facts()[2])}
            assert _worker_facts()[0] is None  # this process is not inside a Slurm job

            with get_task_stream(client) as stream:
                status = run_grid(
                    table, dictionary, cfg, cells, tmp_path / "cells", engine=engine, concurrent=3
                )
            assert status == {f"{o}__{d}": None for o, d in cells}, f"{status}\n{diagnosis()}"
            # 3 cells x 2 repetitions x 3 folds, at least two nuisances each, all on the job's workers
            fold_tasks = [t for t in stream.data if str(t["key"]).startswith("regdml-fold-")]
            assert len(fold_tasks) >= 3 * 2 * 3 * 2
            assert {t["worker"] for t in fold_tasks} <= set(facts)
            # the data went as Parquet files in the scratch folder, removed after each fit
            assert (tmp_path / "scratch").is_dir() and list((tmp_path / "scratch").glob("**/*.parquet")) == []
        finally:
            close_clients()

    for o, d in cells:
        assert (tmp_path / "cells" / f"{o}__{d}.estimate.parquet").is_file(), (o, d)
    assert_same_cells(in_process_grid, tmp_path / "cells", cells)

    # Closing regdml's clients ends the worker job (dask-jobqueue runs scancel).
    deadline = time.monotonic() + 30
    while slurm.jobs() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert slurm.jobs() == []


def test_a_failed_install_says_which_command_failed_and_why(tmp_path, monkeypatch, slurm_helpers):
    """No network to the Debian mirror: the Slurm test fails (it is not skipped) naming the packages,
    the apt-get command and apt-get's own error."""
    fake = tmp_path / "apt-get"
    fake.write_text(
        "#!/bin/sh\necho 'E: Failed to fetch http://deb.debian.org/debian/dists/bookworm/InRelease' >&2\nexit 100\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(RuntimeError) as err:
        slurm_helpers._apt_install("slurm-wlm", "munge")
    message = str(err.value)
    assert message.startswith(
        "the Slurm test could not install Debian's slurm-wlm munge: "
        "`apt-get -o DPkg::Lock::Timeout=300 update -qq` exited with 100"
    ), message
    assert "E: Failed to fetch http://deb.debian.org/debian/dists/bookworm/InRelease" in message
