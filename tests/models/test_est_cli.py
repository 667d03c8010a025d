"""``regdml estimate`` from the command line: JSON keys, one-line errors (exit 2, no traceback), Penn bonus."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from models.cli import JSON_KEYS
from models.validation_data import PENN_X, load_penn, validation_dir

REPO = Path(__file__).resolve().parents[2]


def regdml_subprocess(*args: str) -> subprocess.CompletedProcess:
    """The real top-level command (slow start: a few seconds)."""
    return subprocess.run([sys.executable, "-m", "pipelines.cli", "estimate", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


@pytest.fixture
def regdml(capsys):
    """``models.cli.main`` in-process, returning an object shaped like CompletedProcess."""
    from types import SimpleNamespace

    from models.cli import main

    def call(*args: str):
        rc = main(list(args))
        cap = capsys.readouterr()
        return SimpleNamespace(returncode=rc, stdout=cap.out, stderr=cap.err)

    return call


@pytest.fixture(scope="module")
def small_files(tmp_path_factory, table_factory):
    d = tmp_path_factory.mktemp("cli")
    t = table_factory(n_persons=400, seed=8)
    t.write_parquet(d / "t.parquet")
    t.write_csv(d / "t.csv")
    t.drop("calendar_month", "benefit_group").to_pandas().to_stata(d / "t.dta", write_index=False)
    return d


def test_json_keys_and_summary(regdml, small_files, tmp_path):
    out = tmp_path / "r.json"
    p = regdml("--data", str(small_files / "t.parquet"), "--outcome", "weeks_selfsupport_26w", "--treatment", "digital",
               "--covariates", "age,sex_woman,benefit_weeks_pre_spell_52w", "--cluster", "pnr", "--folds", "3",
               "--reps", "2", "--n-estimators", "30", "--score", "ATTE", "--json", str(out))  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert "estimate" in p.stdout and "clustered by pnr" in p.stdout
    d = json.loads(out.read_text())
    assert set(JSON_KEYS) <= set(d)
    assert d["model"] == "irm" and d["score"] == "ATTE" and d["folds"] == 3 and d["reps"] == 2
    assert len(d["estimates_by_rep"]) == 2


@pytest.mark.parametrize("ext", ["csv", "dta"])
def test_other_formats_and_models(regdml, small_files, ext):
    p = regdml("--data", str(small_files / f"t.{ext}"), "--outcome", "weeks_selfsupport_26w", "--treatment", "digital",
               "--covariates", "age,benefit_weeks_pre_spell_52w", "--model", "plr", "--folds", "3", "--reps", "1",
               "--n-estimators", "30", "--cluster", "pnr,kommune")  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert "PLR" in p.stdout and "pnr+kommune" in p.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--outcome", "nope", "--treatment", "digital", "--covariates", "age"],
            "outcome: column 'nope' not in the table",
        ),
        (
            ["--outcome", "weeks_selfsupport_26w", "--treatment", "digital", "--covariates", "age,foo"],
            "['foo'] not in the table",
        ),
        (
            ["--outcome", "weeks_selfsupport_26w", "--treatment", "education_level", "--covariates", "age"],
            "must be binary 0/1",
        ),
        (
            ["--outcome", "weeks_selfsupport_26w", "--treatment", "digital", "--covariates", "age,const"],
            "constant column",
        ),
        (
            ["--outcome", "weeks_selfsupport_26w", "--treatment", "digital", "--covariates", "age,agemiss"],
            "missing or non-finite",
        ),
        (
            [
                "--outcome",
                "weeks_selfsupport_26w",
                "--treatment",
                "onetreated",
                "--covariates",
                "age",
                "--cluster",
                "pnr",
            ],
            "single class",
        ),
        (
            [
                "--outcome",
                "weeks_selfsupport_26w",
                "--treatment",
                "digital",
                "--covariates",
                "age",
                "--trim",
                "x",
            ],
            "--trim",
        ),
        (
            [
                "--outcome",
                "weeks_selfsupport_26w",
                "--treatment",
                "digital",
                "--model",
                "pliv",
                "--covariates",
                "age",
            ],
            "instrument",
        ),
    ],
)
def test_bad_input_gives_one_line_error(regdml, tmp_path, table_factory, args, message):
    t = table_factory(n_persons=150, seed=2)
    first = t["pnr"][0]
    t = t.with_columns(
        pl.lit(1.0).alias("const"),
        pl.when(pl.col("age") == 30).then(None).otherwise(pl.col("age")).alias("agemiss"),
        (pl.col("pnr") == first).cast(pl.Int8).alias("onetreated"),
    )
    f = tmp_path / "bad.parquet"
    t.write_parquet(f)
    p = regdml("--data", str(f), "--folds", "3", "--reps", "1", "--n-estimators", "20", *args)
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert "Traceback" not in p.stderr
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("regdml estimate: error:"), p.stderr
    assert message in lines[0]


def test_missing_file_and_unknown_type(tmp_path):
    regdml = regdml_subprocess  # through the top-level command: one line on stderr, exit 2, no traceback
    p = regdml("--data", str(tmp_path / "none.parquet"), "--outcome", "y", "--treatment", "d")
    assert p.returncode == 2 and "does not exist" in p.stderr and "Traceback" not in p.stderr
    (tmp_path / "x.xlsx").write_text("")
    p = regdml("--data", str(tmp_path / "x.xlsx"), "--outcome", "y", "--treatment", "d")
    assert p.returncode == 2 and "unknown file type" in p.stderr


@pytest.mark.skipif(not (validation_dir() / "penn_jae.dat").exists(), reason="no shared/validation")
def test_penn_bonus_from_the_command_line(tmp_path):
    regdml = regdml_subprocess
    f = tmp_path / "penn.parquet"
    load_penn().write_parquet(f)
    out = tmp_path / "penn.json"
    p = regdml("--data", str(f), "--outcome", "inuidur1", "--treatment", "tg", "--covariates", ",".join(PENN_X),
               "--model", "irm", "--score", "ATE", "--learner", "lgbm", "--folds", "5", "--reps", "5",
               "--json", str(out))  # fmt: skip
    assert p.returncode == 0, p.stderr
    d = json.loads(out.read_text())
    # published -0.073 .. -0.085, SE about 0.036: within one SE of the range
    assert -0.085 - 0.036 <= d["estimate"] <= -0.073 + 0.036
    assert 0.03 < d["se"] < 0.045 and d["n"] == 5099 and d["n_treated"] == 1745


def test_cluster_defaults_to_a_pnr_column_and_says_so(regdml, small_files, tmp_path):
    base = ["--outcome", "weeks_selfsupport_26w", "--treatment", "digital", "--covariates", "age,benefit_weeks_pre_spell_52w",
            "--model", "plr", "--learner", "lgbm", "--folds", "3", "--reps", "1", "--n-estimators", "20"]  # fmt: skip
    out = tmp_path / "r.json"
    p = regdml("--data", str(small_files / "t.parquet"), *base, "--json", str(out))
    assert p.returncode == 0, p.stderr
    assert "--cluster not given" in p.stdout and "'pnr'" in p.stdout and "clustered by pnr" in p.stdout
    d = json.loads(out.read_text())
    assert d["cluster"] == "pnr" and d["n_persons"] < d["n"]  # persons, not rows
    p = regdml("--data", str(small_files / "t.parquet"), *base, "--cluster", "none")
    assert p.returncode == 0 and "clustered by row" in p.stdout and "--cluster not given" not in p.stdout
    nopnr = tmp_path / "nopnr.parquet"
    pl.read_parquet(small_files / "t.parquet").drop("pnr").write_parquet(nopnr)
    p = regdml("--data", str(nopnr), *base)
    assert p.returncode == 0 and "clustered by row" in p.stdout and "--cluster not given" not in p.stdout


def test_randomized_trial_from_the_command_line(regdml, small_files, tmp_path):
    """A known assignment probability of 0.5 for everyone: the Hajek estimate is the difference in means."""
    out = tmp_path / "trial.json"
    p = regdml("--data", str(small_files / "t.parquet"), "--outcome", "weeks_selfsupport_26w", "--treatment", "digital",
               "--model", "randomized", "--assignment-prob", "0.5", "--json", str(out))  # fmt: skip
    assert p.returncode == 0, p.stderr
    d = json.loads(out.read_text())
    t = pl.read_parquet(small_files / "t.parquet")
    diff = (
        t.filter(pl.col("digital") == 1)["weeks_selfsupport_26w"].mean()
        - t.filter(pl.col("digital") == 0)["weeks_selfsupport_26w"].mean()
    )
    assert d["model"] == "randomized" and d["score"] == "ATE" and d["cluster"] == "pnr"
    assert d["estimate"] == pytest.approx(diff, rel=1e-10)
    p = regdml("--data", str(small_files / "t.parquet"), "--outcome", "weeks_selfsupport_26w", "--treatment", "digital",
               "--model", "randomized")  # fmt: skip
    assert p.returncode == 2 and "--assignment-prob" in p.stderr
    p = regdml("--data", str(small_files / "t.parquet"), "--outcome", "weeks_selfsupport_26w", "--treatment", "digital",
               "--covariates", "age", "--assignment-prob", "0.5")  # fmt: skip
    assert p.returncode == 2 and "only for --model randomized" in p.stderr
    p = regdml("--data", str(small_files / "t.parquet"), "--outcome", "weeks_selfsupport_26w", "--treatment", "digital",
               "--model", "randomized", "--assignment-prob", "1.5")  # fmt: skip
    assert p.returncode == 2 and "assignment_prob" in p.stderr


def test_lasso_on_a_float32_nearly_collinear_table(regdml, collinear_float32_table, tmp_path):
    """``--learner lasso`` on the table whose float32 Gram matrix failed scikit-learn's check."""
    t, x = collinear_float32_table
    f = tmp_path / "collinear.parquet"
    t.write_parquet(f)
    out = tmp_path / "lasso.json"
    p = regdml("--data", str(f), "--outcome", "re78", "--treatment", "treat", "--covariates", ",".join(x),
               "--model", "plr", "--learner", "lasso", "--folds", "5", "--reps", "1", "--json", str(out))  # fmt: skip
    assert p.returncode == 0, p.stderr
    d = json.loads(out.read_text())
    assert d["learner"] == "lasso" and abs(d["estimate"] - 800) < 4 * d["se"]


def test_apos_with_a_categorical_treatment(regdml, tmp_path):
    from tests.models.test_est_modality import _modality_table

    data = tmp_path / "forms.csv"
    _modality_table(n_persons=300, seed=4).write_csv(data)
    out = tmp_path / "apos.json"
    r = regdml("--data", str(data), "--outcome", "y", "--treatment", "meeting_form", "--covariates", "x1,x2",
               "--model", "apos", "--levels", "in_person,telephone,video", "--learner", "lasso", "--folds", "3",
               "--reps", "1", "--json", str(out))  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "contrast video_vs_telephone:" in r.stdout and "clustered by pnr" in r.stdout
    j = json.loads(out.read_text())
    assert [c["contrast"] for c in j["contrasts"]] == [
        "telephone_vs_in_person", "video_vs_in_person", "video_vs_telephone",
    ]  # fmt: skip
    assert [p["level"] for p in j["potential_outcomes"]] == ["in_person", "telephone", "video"]
    po = {p["level"]: p["estimate"] for p in j["potential_outcomes"]}
    assert j["contrasts"][2]["estimate"] == pytest.approx(po["video"] - po["telephone"], abs=1e-9)
    # a level that does not occur is a one-line error naming the argument
    bad = regdml("--data", str(data), "--outcome", "y", "--treatment", "meeting_form", "--covariates", "x1",
                 "--model", "apos", "--levels", "in_person,letter", "--learner", "lasso")  # fmt: skip
    assert bad.returncode == 2 and "levels: ['letter'] have no rows" in bad.stderr
    assert regdml("--data", str(data), "--outcome", "y", "--treatment", "meeting_form", "--covariates", "x1",
                  "--levels", "a,b").returncode == 2  # fmt: skip
