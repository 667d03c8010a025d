"""The where-to-run setting, and the Slurm cluster's job script (built, never submitted: no Slurm here)."""

from __future__ import annotations

import dask
import dask_jobqueue  # noqa: F401 - its defaults must be in dask's config before any dask.config.set
import pytest

from models.engine import IN_PROCESS, engine_from_setting, slurm_cluster


@pytest.mark.parametrize("value", [None, "", "process", "  process "])
def test_in_process_is_the_default(value):
    assert engine_from_setting(value) is IN_PROCESS


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("dask", "setting must be 'process', 'local[:workers]', 'slurm[:jobs]' or a scheduler address"),
        ("local:0", "setting: the number after 'local:' must be a positive integer; got 'local:0'"),
        ("slurm:many", "setting: the number after 'slurm:' must be a positive integer; got 'slurm:many'"),
        (
            "tcp://127.0.0.1",
            "setting must be a scheduler address like tcp://host:8786; got 'tcp://127.0.0.1'",
        ),
    ],
)
def test_a_wrong_setting_is_refused_naming_it(value, message):
    with pytest.raises(ValueError) as err:
        engine_from_setting(value)
    assert message in str(err.value)


def test_an_address_without_a_scheduler_is_a_clear_error():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed below: nothing listens there
    with pytest.raises(ConnectionError) as err:
        engine_from_setting(f"tcp://127.0.0.1:{port}", connect_timeout=2)
    assert f"no Dask scheduler answered at 'tcp://127.0.0.1:{port}' within 2 s" in str(err.value)


def test_slurm_cluster_job_script_from_jobqueue_config():
    """The settings a researcher writes in ~/.config/dask/jobqueue.yaml reach the sbatch script: one
    single-threaded worker process per core, the venv activated, nothing submitted."""
    conf = {
        "jobqueue.slurm.queue": "normal",
        "jobqueue.slurm.account": "dst_project",
        "jobqueue.slurm.cores": 8,
        "jobqueue.slurm.memory": "32GB",
        "jobqueue.slurm.walltime": "04:00:00",
        "jobqueue.slurm.job-script-prologue": ["source /faststorage/project/regdml/.venv/bin/activate"],
        "jobqueue.slurm.local-directory": "$TMPDIR",
    }
    with dask.config.set(conf):
        cluster = slurm_cluster(cores=8, scheduler_options={"host": "127.0.0.1", "dashboard_address": None})
        try:
            script = cluster.job_script()
            assert len(cluster.workers) == 0  # nothing was submitted
        finally:
            cluster.close()
    for line in (
        "#SBATCH -p normal",
        "#SBATCH -A dst_project",
        "#SBATCH --cpus-per-task=8",
        "#SBATCH --mem=30G",
        "#SBATCH -t 04:00:00",
        "source /faststorage/project/regdml/.venv/bin/activate",
        "--nworkers 8",
        "--nthreads 1",
        "tcp://127.0.0.1:",
    ):
        assert line in script, (line, script)


def test_regdml_estimate_names_the_dask_option_in_its_error(tmp_path, capsys):
    import polars as pl

    from models.cli import main

    pl.DataFrame({"y": [1.0, 2.0, 3.0, 4.0], "d": [0, 1, 0, 1], "x": [1, 2, 3, 5]}).write_parquet(
        tmp_path / "t.parquet"
    )
    code = main(["--data", str(tmp_path / "t.parquet"), "--outcome", "y", "--treatment", "d", "--covariates", "x",
                 "--dask", "local:x"])  # fmt: skip
    assert code == 2
    assert capsys.readouterr().err.strip() == (
        "regdml estimate: error: --dask: the number after 'local:' must be a positive integer; got 'local:x'"
    )


def test_slurm_cores_from_the_jobqueue_config_alone_make_single_threaded_workers():
    """``REGDML_DASK=slurm`` passes no keyword arguments: ``cores: 8`` in jobqueue.yaml alone must give
    8 single-threaded worker processes per job (as the README says), not dask-jobqueue's own split
    (4 processes x 2 threads); a ``processes`` the researcher sets is kept."""
    base = {"jobqueue.slurm.cores": 8, "jobqueue.slurm.memory": "32GB"}
    scheduler = {"host": "127.0.0.1", "dashboard_address": "127.0.0.1:0"}
    for extra, workers, threads in (({}, 8, 1), ({"jobqueue.slurm.processes": 2}, 2, 4)):
        with dask.config.set({**base, **extra}):
            cluster = slurm_cluster(scheduler_options=scheduler)
            try:
                script = cluster.job_script()
            finally:
                cluster.close()
        assert f"--nworkers {workers} " in script and f"--nthreads {threads} " in script, script
