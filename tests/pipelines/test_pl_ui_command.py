"""`regdml ui` starts `dagster dev` (web server and daemon) on the instance `regdml run` writes to."""

import argparse
import sys

from pipelines import ui


def test_ui_command_is_dagster_dev_on_the_code_location():
    cmd = ui.ui_command("127.0.0.1", 3111)
    assert cmd[:4] == [sys.executable, "-m", "dagster", "dev"]
    assert cmd[cmd.index("-m", 3) + 1] == "pipelines.definitions"
    assert cmd[cmd.index("--port") + 1] == "3111" and cmd[cmd.index("--host") + 1] == "127.0.0.1"


def test_ui_uses_the_workdir_instance(tmp_path, monkeypatch):
    calls = {}
    # ui.run sets these in os.environ; monkeypatch restores them afterwards.
    for var in ("DAGSTER_HOME", "REGDML_WORKDIR", "REGDML_DELIVERY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(ui.subprocess, "call", lambda cmd, env: calls.update(cmd=cmd, env=env) or 0)
    args = argparse.Namespace(workdir=tmp_path / "w", delivery=tmp_path / "d", host="127.0.0.1", port=3000)
    assert ui.run(args) == 0
    env = calls["env"]
    assert env["DAGSTER_HOME"] == str((tmp_path / "w" / "dagster_home").resolve())
    assert (tmp_path / "w" / "dagster_home" / "dagster.yaml").is_file()
    assert env["REGDML_WORKDIR"] == str((tmp_path / "w").resolve())
    assert env["REGDML_DELIVERY"] == str((tmp_path / "d").resolve())
