"""``regdml synth``: write a synthetic delivery and its ground truth."""

from __future__ import annotations

import argparse
import dataclasses
import sys

from synth.params import WORLDS, SynthParams, world_params


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``synth`` options to ``parser``."""
    parser.add_argument("--persons", type=int, default=20_000, help="number of persons (default 20000)")
    parser.add_argument("--seed", type=int, default=20200501, help="random seed (default 20200501)")
    parser.add_argument("--out", required=True, help="delivery folder to write (replaced as a whole)")
    parser.add_argument(
        "--world",
        choices=tuple(WORLDS),
        default="realistic",
        help="the synthetic world (default realistic: nearly every 2020-21 jobsamtale digital, mild selection "
        "on an unobserved characteristic; easy: the generator's earlier world; confounded: strong selection on "
        "the unobserved characteristic, a valid instrument); see docs/synth.md",
    )
    parser.add_argument(
        "--format",
        dest="fmt",
        choices=("parquet", "csv", "sas7bdat"),
        default="parquet",
        help="file format of the registers (default parquet; sas7bdat needs ../shared/tools/sas7bdat_writer.py)",
    )
    parser.add_argument(
        "--dream-from",
        type=int,
        default=None,
        metavar="YEAR",
        help="first year of DREAM's y_ weeks, 1991-2015 (1991: from y_9130 with grad_ from 2008-01, as DST "
        "delivers it; default 2015: as long as the simulation, fast)",
    )
    parser.add_argument(
        "--grad-lag-months",
        type=int,
        default=0,
        metavar="K",
        help="end grad_ K months before the month of DREAM's last week (default 0)",
    )
    parser.add_argument(
        "--truth",
        default=None,
        help="ground-truth JSON path (default <out>.truth.json; must be outside --out)",
    )
    parser.add_argument(
        "--null-effect",
        action="store_true",
        help="true effect of a digital meeting exactly zero (hazard ratio 1)",
    )
    parser.add_argument(
        "--no-meetings-file",
        action="store_true",
        help="do not write the per-meeting potential outcomes (<truth>.meetings.parquet)",
    )
    parser.add_argument("--chunk-size", type=int, default=None, help="persons per chunk (default 50000)")
    parser.add_argument("--codebook", default=None, help="codebook YAML (default: the shipped one)")
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a SynthParams field of the world, e.g. --param selection_strength=0 (repeatable)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines")


def _params(args: argparse.Namespace) -> SynthParams:
    fields = {f.name: f for f in dataclasses.fields(SynthParams)}
    changes: dict[str, object] = {}
    for item in args.param:
        if "=" not in item:
            raise ValueError(f"--param expects NAME=VALUE, got {item!r}")
        name, value = item.split("=", 1)
        if name not in fields:
            raise ValueError(f"--param: unknown parameter {name!r}; known: {sorted(fields)}")
        default = getattr(SynthParams(), name)
        if name == "world":
            raise ValueError("--param: set the world with --world, not --param world=...")
        if isinstance(default, bool):
            changes[name] = value.strip().lower() in ("1", "true", "yes")
        else:
            changes[name] = type(default)(value)
    if args.null_effect:
        changes["null_effect"] = True
    if args.chunk_size is not None:
        changes["chunk_size"] = args.chunk_size
    return world_params(getattr(args, "world", "realistic"), **changes)


def run(args: argparse.Namespace) -> int:
    """Run ``regdml synth``; returns the exit status."""
    from synth.generate import generate_delivery

    try:
        params = _params(args)
        summary = generate_delivery(
            args.out,
            persons=args.persons,
            seed=args.seed,
            fmt=args.fmt,
            params=params,
            truth_path=args.truth,
            progress=None if args.quiet else (lambda msg: print(msg, flush=True)),
            write_meetings=not args.no_meetings_file,
            codebook=args.codebook,
            dream_from=args.dream_from,
            grad_lag_months=args.grad_lag_months,
        )
    except ValueError as e:
        print(f"regdml synth: error: {e}", file=sys.stderr)
        return 2
    if args.quiet:
        print(f"{summary['delivery']} {summary['truth']}")
    return 0
