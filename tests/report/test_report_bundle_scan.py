"""The export bundle and the output-control scanner: a planted PNR is found, the fake run's bundle passes,
a failed build leaves the last good bundle intact."""

import argparse
import csv
import hashlib
import shutil

import pytest

from assets.report import scan_cli
from assets.report.bundle import BundleError, build_bundle
from assets.report.render import render_run
from assets.report.scan import scan_folder
from data_contracts.config import load_config
from tests.report.fixtures import TRUTH, write_fake_run

PLANTED = "0101901234"


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    work = write_fake_run(tmp_path_factory.mktemp("run") / "runs" / "synthetic")
    written = render_run(work, load_config(), truth=TRUTH)
    return written.report_dir


@pytest.fixture()
def bundle(report_dir, tmp_path):
    return build_bundle(report_dir, tmp_path / "export_bundle", min_cell=5)


def _run_cli(folder, capsys, min_cell=5):
    p = argparse.ArgumentParser()
    scan_cli.add_arguments(p)
    rc = scan_cli.run(p.parse_args([str(folder), "--min-cell", str(min_cell)]))
    out = capsys.readouterr()
    return rc, out.out + out.err


def test_bundle_from_fake_estimation_outputs_passes(bundle, capsys):
    assert scan_folder(bundle.path) == []
    rc, out = _run_cli(bundle.path, capsys)
    assert rc == 0 and "no findings" in out
    names = {p.relative_to(bundle.path).as_posix() for p in bundle.path.rglob("*") if p.is_file()}
    assert {
        "MANIFEST.txt",
        "manifest.csv",
        "report.html",
        "suppression_log.csv",
        "tables/estimates.csv",
    } <= names
    assert all(n.rsplit(".", 1)[-1] in {"html", "csv", "png", "tex", "pdf", "txt"} for n in names)


def test_manifest_lists_every_file_with_its_sha256(bundle):
    with (bundle.path / "manifest.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    listed = {r["file"] for r in rows}
    present = {p.relative_to(bundle.path).as_posix() for p in bundle.path.rglob("*") if p.is_file()}
    assert present - listed == {"MANIFEST.txt", "manifest.csv"}
    for r in rows:
        assert hashlib.sha256((bundle.path / r["file"]).read_bytes()).hexdigest() == r["sha256"]
        assert r["description"].strip()
    text = (bundle.path / "MANIFEST.txt").read_text(encoding="utf-8")
    assert "No microdata" in text and "suppression_log.csv" in text


def test_scanner_finds_a_planted_pnr_in_a_csv_and_masks_it(bundle, capsys):
    target = bundle.path / "tables" / "estimates.csv"
    lines = target.read_text(encoding="utf-8").splitlines()
    lines[2] = lines[2] + "," + PLANTED
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    findings = scan_folder(bundle.path)
    assert any(f.kind == "pnr" and f.file == "tables/estimates.csv" and f.line == 3 for f in findings)
    rc, out = _run_cli(bundle.path, capsys)
    assert rc == 1
    assert "tables/estimates.csv:3:" in out
    assert PLANTED not in out and PLANTED[:6] not in out


def test_scanner_flags_pnr_columns_small_counts_and_file_types(tmp_path, capsys):
    (tmp_path / "a.csv").write_text("pnr,n\nAB12,10\n", encoding="utf-8")
    (tmp_path / "b.csv").write_text(
        "group,n_treated,units_after,share\nx,3,100,0.5\ny,0,4,0.1\n", encoding="utf-8"
    )
    (tmp_path / "c.parquet").write_bytes(b"PAR1")
    (tmp_path / "d.txt").write_text(
        "cpr 010190-1234 here; estimate 0.0123456789; 1.1234567890\n", encoding="utf-8"
    )
    f = scan_folder(tmp_path, min_cell=5)
    kinds = {(x.file, x.kind) for x in f}
    assert ("a.csv", "pnr") in kinds
    assert ("c.parquet", "file_type") in kinds
    assert ("d.txt", "pnr") in kinds
    small = [x for x in f if x.kind == "small_cell"]
    assert {(x.file, x.line, x.column) for x in small} == {
        ("b.csv", 2, "n_treated"),
        ("b.csv", 3, "units_after"),
    }
    # decimals are not identifiers
    assert sum(1 for x in f if x.file == "d.txt") == 1
    rc, out = _run_cli(tmp_path, capsys)
    assert rc == 1 and "010190-1234" not in out and "AB12" not in out


def test_failed_bundle_leaves_last_good_bundle_intact(report_dir, tmp_path):
    target = tmp_path / "export_bundle"
    good = build_bundle(report_dir, target, min_cell=5)
    before = (good.path / "manifest.csv").read_bytes()
    # a report folder with a planted PNR in one of its tables
    bad = tmp_path / "bad_report"
    shutil.copytree(report_dir, bad, ignore=shutil.ignore_patterns("export_bundle"))
    p = bad / "tables" / "placebos.csv"
    p.write_text(p.read_text(encoding="utf-8") + f"x,{PLANTED},1,1,1,1,1,100\n", encoding="utf-8")
    with pytest.raises(BundleError) as e:
        build_bundle(bad, target, min_cell=5)
    assert e.value.findings and PLANTED not in str(e.value)
    assert (target / "manifest.csv").read_bytes() == before
    assert not [x for x in tmp_path.iterdir() if x.name.startswith(".export_bundle")]


def test_bundle_refuses_unapproved_files(report_dir, tmp_path):
    bad = tmp_path / "r"
    shutil.copytree(report_dir, bad, ignore=shutil.ignore_patterns("export_bundle"))
    (bad / "scores.parquet").write_bytes(b"PAR1")
    with (bad / "contents.csv").open("a", encoding="utf-8") as fh:
        fh.write("scores.parquet,per-person scores\n")
    with pytest.raises(BundleError, match="not approved"):
        build_bundle(bad, tmp_path / "b", min_cell=5)
    assert not (tmp_path / "b").exists()
