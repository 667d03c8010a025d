"""The ``regdml`` command line.

Each subcommand lives beside the code it drives and exposes ``add_arguments(parser)`` and
``run(args) -> int``; this module only wires them together and imports them lazily, so
``regdml --help`` is fast and a broken optional stage cannot stop the others.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys

# subcommand -> (module, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "synth": ("synth.cli", "Write a synthetic DST-shaped delivery and its ground-truth file"),
    "run": ("pipelines.run", "Materialize every asset for a delivery through Dagster"),
    "build-table": (
        "pipelines.build_table",
        "Write the analysis table of a delivery (Parquet, CSV or Stata)",
    ),
    "estimate": ("models.cli", "Estimate a treatment effect with DoubleML on any table"),
    "lineage": ("pipelines.lineage", "Print the upstream chain of an asset with versions and last runs"),
    "ui": ("pipelines.ui", "Start the Dagster web server and daemon on the regdml instance"),
    "scan": ("assets.report.scan_cli", "Check a folder as DST's output control would"),
    "value": (
        "models.value_cli",
        "What a digital meeting is worth in kroner, for an effect and its interval",
    ),
}


def _available() -> dict[str, tuple[str, str]]:
    out = {}
    for name, (module, helptext) in SUBCOMMANDS.items():
        if importlib.util.find_spec(module.rsplit(".", 1)[0]) is None:
            continue
        try:
            if importlib.util.find_spec(module) is None:
                continue
        except ModuleNotFoundError:
            continue
        out[name] = (module, helptext)
    return out


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, object]]:
    parser = argparse.ArgumentParser(
        prog="regdml",
        description="Register-data DML pipeline: digital versus in-person jobsamtaler (DST-shaped registers).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules: dict[str, object] = {}
    for name, (module_name, helptext) in _available().items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=helptext, description=helptext)
        module.add_arguments(p)  # type: ignore[attr-defined]
        modules[name] = module
    return parser, modules


def utf8_output() -> None:
    """Write stdout and stderr as UTF-8 whatever the console's code page.

    On Windows, output redirected to a file or a pipe (``regdml run > run.log``) is encoded with the
    ANSI code page (cp1252), which has no box-drawing characters: the summary's tables would end a
    successful run in a UnicodeEncodeError. An interactive console is UTF-8 already.
    """
    for stream in (sys.stdout, sys.stderr):
        encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "").replace("_", "")
        if encoding != "utf8" and hasattr(stream, "reconfigure"):
            stream.reconfigure(encoding="utf-8", errors="replace")


def main(argv: list[str] | None = None) -> int:
    utf8_output()
    os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
    # Polars reads its thread count once, at import: set it before any subcommand imports Polars.
    from data_contracts.settings import Settings, SettingsError

    try:  # every environment variable, validated once before any subcommand runs
        settings = Settings.from_env()
    except SettingsError as e:
        print(f"regdml: {e}", file=sys.stderr)
        return 2
    os.environ.setdefault("POLARS_MAX_THREADS", str(settings.polars_threads))
    parser, modules = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    return int(modules[args.command].run(args) or 0)  # type: ignore[attr-defined]


if __name__ == "__main__":
    sys.exit(main())
