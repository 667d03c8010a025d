"""``regdml value``: what a digital meeting is worth, for an effect estimated elsewhere.

A researcher with an effect on weeks of self-support per meeting and its 95% interval (from this pipeline
or another study) gets the same table as ``estimation/value.parquet`` for one benefit group, with the
configuration's value section as the assumptions (``--config``; the plan's defaults otherwise).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import polars as pl


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--effect",
        required=True,
        type=float,
        help="Effect on weeks of self-support per meeting (digital - in person)",
    )
    parser.add_argument(
        "--ci-low", required=True, type=float, help="Lower bound of its 95%% confidence interval"
    )
    parser.add_argument(
        "--ci-high", required=True, type=float, help="Upper bound of its 95%% confidence interval"
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="Run configuration YAML with a value section (default: the plan's)",
    )
    parser.add_argument(
        "--group",
        default="all",
        help="Benefit group of the configuration's value section, or 'all' (its weekly benefit weighted by the "
        "annual numbers of jobsamtaler; default)",
    )
    parser.add_argument("--csv", action="store_true", help="Print the one-row table as CSV instead")


def run(args: argparse.Namespace) -> int:
    from data_contracts.config import ConfigError, load_config
    from models import value as V

    try:
        cfg = load_config(args.config).value
    except ConfigError as e:
        print(f"regdml value: {e}", file=sys.stderr)
        return 2
    groups = [*cfg.weekly_benefit_dkk, V.ALL]
    if args.group not in groups:
        print(f"regdml value: --group must be one of {groups}; got {args.group!r}", file=sys.stderr)
        return 2
    bad = [f"{flag} {v!r}" for flag, v in (("--effect", args.effect), ("--ci-low", args.ci_low),
                                             ("--ci-high", args.ci_high)) if not math.isfinite(v)]  # fmt: skip
    if bad:
        print(f"regdml value: must be finite numbers: {', '.join(bad)}", file=sys.stderr)
        return 2
    if not args.ci_low <= args.effect <= args.ci_high:
        print(
            "regdml value: the interval must contain the effect (--ci-low <= --effect <= --ci-high); got "
            f"--ci-low {args.ci_low}, --effect {args.effect}, --ci-high {args.ci_high}",
            file=sys.stderr,
        )
        return 2
    effect = V.Effect(args.effect, args.ci_low, args.ci_high)
    if args.group == V.ALL:
        table = V.value_table(cfg, effect)
    else:
        table = V.value_table(cfg, None, {args.group: effect})
    table = table.filter(pl.col("benefit_group") == args.group)
    if args.csv:
        print(table.write_csv(), end="")
        return 0
    with pl.Config(tbl_rows=40, tbl_hide_dataframe_shape=True, tbl_width_chars=120, fmt_str_lengths=60):
        print(V.long_form(table, args.group))
    print(V.headline(table, "given on the command line", "weeks of self-support"))
    print(
        "Every input is an assumption of the configuration's value section (its sources: value.sources, "
        "printed in the report and docs/value.md); "
        "change it with --config."
    )
    return 0
