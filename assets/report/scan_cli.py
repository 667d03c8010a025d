"""``regdml scan DIR``: check a folder as DST's output control would; non-zero exit on findings."""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "folder", help="folder to check (e.g. <workdir>/runs/<delivery>/report/export_bundle)"
    )
    parser.add_argument(
        "--min-cell",
        type=int,
        default=None,
        help="minimum count in a CSV count column (default: disclosure.min_cell of the configuration)",
    )
    parser.add_argument("--config", default=None, help="run configuration YAML (for disclosure.min_cell)")


def run(args: argparse.Namespace) -> int:
    from assets.report.scan import format_findings, scan_folder

    min_cell = args.min_cell
    if min_cell is None:
        from data_contracts.config import load_config

        min_cell = load_config(args.config).disclosure.min_cell
    findings = scan_folder(args.folder, min_cell=min_cell)
    print(format_findings(findings), file=sys.stdout if not findings else sys.stderr)
    return 1 if findings else 0


if __name__ == "__main__":
    p = argparse.ArgumentParser(prog="regdml scan")
    add_arguments(p)
    sys.exit(run(p.parse_args()))
