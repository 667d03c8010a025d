"""``regdml estimate``: one DoubleML estimate on any prepared table (Parquet, CSV or Stata).

Example (the Pennsylvania bonus, IRM-ATE with Lasso on second-order terms)::

    regdml estimate --data penn.parquet --outcome inuidur1 --treatment tg \\
        --covariates female,black,othrace,dep1,dep2,q2,q3,q4,q5,q6,agelt35,agegt54,durable,lusd,husd \\
        --model irm --score ATE --learner lasso --poly2 --folds 5 --reps 5 --json out.json

Errors in the input (a wrong column name, a non-binary treatment for IRM, a constant column, missing values,
a single-class fold) print one line to stderr and return exit code 2.

Defaults: ``--learner auto`` (LightGBM tuned and a learner chosen per nuisance, see docs/estimation.md);
``--cluster`` is the table's ``pnr`` column when it has one (the output says so; ``--cluster none`` makes
every row its own cluster). ``--model randomized --assignment-prob P`` analyses a trial with a known
assignment probability (a number, or a column holding each unit's probability). ``--model apos`` takes a
categorical treatment column (e.g. ``meeting_form``): the average potential outcome of every level and every
pairwise contrast, the reference level first in ``--levels`` (default: the sorted values).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import polars as pl

from data_contracts.settings import Settings

JSON_KEYS = (
    "model", "score", "estimate", "se", "ci_low", "ci_high", "p_value", "n", "n_treated", "n_trimmed",
    "learner", "folds", "reps", "seed", "rep_spread", "n_trimmed_treated", "n_trimmed_control",
)  # fmt: skip
DEFAULT_PERSON = "pnr"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``regdml estimate`` options to ``parser``."""
    parser.add_argument("--data", required=True, help="table: .parquet, .csv or .dta")
    parser.add_argument("--outcome", required=True, help="outcome column")
    parser.add_argument("--treatment", required=True,
                        help="treatment column (0/1 for irm, iivm, naive; categorical for apos)")  # fmt: skip
    parser.add_argument("--covariates", default="", help="comma-separated control columns")
    parser.add_argument("--instrument", default=None, help="instrument column (pliv, iivm)")
    parser.add_argument("--cluster", default=None,
                        help="person column: folds by person and person-clustered SEs (default: the column "
                             "'pnr' if the table has one, else each row; 'none': each row); "
                             "'A,B' adds a second cluster for two-way SEs")  # fmt: skip
    parser.add_argument(
        "--model", default="irm", choices=["irm", "plr", "pliv", "iivm", "naive", "randomized", "apos"]
    )
    parser.add_argument("--levels", default=None,
                        help="apos: comma-separated treatment levels, the reference first (default: sorted "
                             "values; rows with another value or none are left out and counted)")  # fmt: skip
    parser.add_argument("--assignment-prob", default=None, metavar="P",
                        help="randomized: the known probability of treatment, a number in (0, 1) or a column")  # fmt: skip
    parser.add_argument("--score", default="ATE", choices=["ATE", "ATTE"], help="IRM score (default ATE)")
    parser.add_argument("--learner", default="auto", choices=["lgbm", "lasso", "rf", "auto"],
                        help="nuisance learner (default auto: per nuisance LightGBM unless tuned LightGBM, "
                             "lasso/logistic or a forest has a smaller out-of-fold loss beyond 2 SE)")  # fmt: skip
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--seed", type=int, default=20200501)
    parser.add_argument("--trim", default="0.01,0.99", help="IRM propensity trimming 'low,high' or 'none'")
    parser.add_argument("--n-estimators", type=int, default=200, help="trees for lgbm and rf")
    parser.add_argument("--threads", type=int, default=1, help="learner threads (default 1)")
    parser.add_argument("--poly2", action="store_true", help="second-order terms for the lasso learner")
    parser.add_argument("--dask", default=None, metavar="WHERE",
                        help="fit the learners on Dask: 'local[:workers]', tcp://host:port or 'slurm[:jobs]' "
                        "(default: $REGDML_DASK, else in process; the result is the same)")  # fmt: skip
    parser.add_argument("--json", default=None, help="write the result as one JSON object to this file")


def _read(path: str) -> pl.DataFrame:
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"--data: file {path} does not exist")
    suffix = p.suffix.lower()
    if suffix == ".parquet":
        return pl.read_parquet(p)
    if suffix == ".csv":
        return pl.read_csv(p, infer_schema_length=10000, null_values=["", "NA", "."])
    if suffix == ".dta":
        import pandas as pd

        return pl.from_pandas(pd.read_stata(p))
    raise ValueError(f"--data: unknown file type {suffix!r} of {path} (use .parquet, .csv or .dta)")


def _trim(text: str):
    if text.strip().lower() in ("none", "no", ""):
        return None
    try:
        lo, hi = (float(x) for x in text.split(","))
    except ValueError:
        raise ValueError(f"--trim: expected 'low,high' or 'none'; got {text!r}") from None
    return (lo, hi)


def _assignment_prob(text: str | None, model: str):
    if text is None:
        if model == "randomized":
            raise ValueError(
                "--assignment-prob: required with --model randomized (a number in (0, 1) or a column)"
            )
        return None
    if model != "randomized":
        raise ValueError(f"--assignment-prob: only for --model randomized; got --model {model}")
    try:
        return float(text)
    except ValueError:
        return text  # a column name, checked by the estimator


def _clusters(arg: str | None, table: pl.DataFrame) -> tuple[list[str], str | None]:
    """The cluster columns and, when the default was applied, a line saying so."""
    if arg is None:
        if DEFAULT_PERSON in table.columns:
            return [DEFAULT_PERSON], (
                f"--cluster not given: folds and standard errors by the table's '{DEFAULT_PERSON}' column "
                "(--cluster none: every row its own cluster)"
            )
        return [], None
    if arg.strip().lower() == "none":
        return [], None
    return [c.strip() for c in arg.split(",") if c.strip()], None


def _format(res) -> str:
    trimmed = f"trimmed {res.n_trimmed}"
    if res.n_trimmed_treated is not None:
        trimmed += f" (treated {res.n_trimmed_treated}, control {res.n_trimmed_control})"
    spread = (
        "n/a (one repetition)"
        if res.reps < 2 or res.rep_spread != res.rep_spread
        else f"{res.rep_spread:.4g}"
    )
    lines = [
        f"{res.model.upper()} {res.score}: effect of {res.treatment} on {res.outcome}",
        f"  estimate {res.estimate:.6g}  se {res.se:.6g}  95% CI [{res.ci_low:.6g}, {res.ci_high:.6g}]"
        f"  p {res.p_value:.4g}",
        f"  n {res.n} (treated {res.n_treated if res.n_treated is not None else 'n/a'}, {trimmed}, missing outcome {res.n_missing_outcome})",
        f"  learner {res.learner}, {res.folds} folds x {res.reps} reps, seed {res.seed}, clustered by {res.cluster}",
        f"  spread over repetitions (max - min): {spread}",
    ]
    if res.nuisance_losses is not None and res.nuisance_losses.height:
        losses = ", ".join(
            f"{r['nuisance']} {r['learner']} {r['metric']} {r['value']:.4g}"
            for r in res.nuisance_losses.to_dicts()
        )
        lines.append(f"  nuisance losses: {losses}")
    if res.sensitivity is not None and res.sensitivity.height:
        s = res.sensitivity.row(0, named=True)
        lines.append(
            f"  sensitivity (cf_y={s['cf_y']}, cf_d={s['cf_d']}): bounds [{s['theta_lower']:.6g}, "
            f"{s['theta_upper']:.6g}], RV {s['rv']:.3f}, RVa {s['rva']:.3f}"
        )
    for note in res.notes:
        lines.append(f"  note: {note}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Run ``regdml estimate``; returns 0, or 2 after a one-line error on stderr."""
    import warnings

    from models.engine import close_clients, engine_from_setting
    from models.estimate import DesignSpec, estimate

    try:
        table = _read(args.data)
        covariates = [c.strip() for c in args.covariates.split(",") if c.strip()]
        clusters, said = _clusters(args.cluster, table)
        if said:
            print(f"note: {said}")
        if len(clusters) > 2:
            raise ValueError(f"--cluster: at most two columns; got {args.cluster!r}")
        spec = DesignSpec(
            model=args.model,
            score=args.score,
            learner=args.learner,
            n_folds=args.folds,
            n_reps=args.reps,
            seed=args.seed,
            trim=_trim(args.trim),
            person=clusters[0] if clusters else None,
            cluster2=clusters[1] if len(clusters) > 1 else None,
            instrument=args.instrument,
            n_estimators=args.n_estimators,
            n_threads=args.threads,
            poly2=args.poly2,
            assignment_prob=_assignment_prob(args.assignment_prob, args.model),
        )
        setting = Settings.from_env().dask if args.dask is None else args.dask
        engine = engine_from_setting(setting, name="--dask" if args.dask is not None else "REGDML_DASK")
        if args.levels is not None and args.model != "apos":
            raise ValueError(f"--levels: only for --model apos; got --model {args.model}")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if args.model == "apos":
                    from models.apos import estimate_apos

                    levels = [v.strip() for v in args.levels.split(",")] if args.levels else None
                    results = estimate_apos(
                        table, args.outcome, args.treatment, covariates, spec, levels, engine
                    )
                else:
                    results = [estimate(table, args.outcome, args.treatment, covariates, spec, engine=engine)]
        finally:
            close_clients()  # and the cluster started for 'local'/'slurm'; an external scheduler stays up
    except (ValueError, TypeError, pl.exceptions.PolarsError, OSError) as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        print(f"regdml estimate: error: {msg}", file=sys.stderr)
        return 2
    if args.model == "apos":
        print(_format_apos(results))
        if args.json:
            out = {"model": "apos", "treatment": args.treatment, "outcome": args.outcome,
                   "potential_outcomes": results[0].to_dict()["potential_outcomes"],
                   "contrasts": [{k: v for k, v in r.to_dict().items() if k != "potential_outcomes"}
                                 for r in results]}  # fmt: skip
            Path(args.json).write_text(json.dumps(out, indent=2), encoding="utf-8")
        return 0
    res = results[0]
    print(_format(res))
    if args.json:
        out = res.to_dict()
        out["model"] = args.model
        out["score"] = res.score
        Path(args.json).write_text(json.dumps(out, indent=2), encoding="utf-8")
    return 0


def _format_apos(results) -> str:
    """The potential outcomes of every level, then each contrast as :func:`_format` shows an estimate."""
    r0 = results[0]
    lines = [f"APOS: average potential outcomes of {r0.outcome} by {r0.treatment}"]
    for r in r0.potential_outcomes.iter_rows(named=True):
        lines.append(
            f"  {r['level']}: {r['estimate']:.6g}  se {r['se']:.6g}  95% CI [{r['ci_low']:.6g}, {r['ci_high']:.6g}]"
            f"  n {r['n']} (trimmed {r['n_trimmed']}; propensity {r['propensity_min']:.3f}-{r['propensity_max']:.3f})"
        )
    for res in results:
        lines.append(f"contrast {res.contrast}:")
        lines.append(_format(res))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="regdml estimate")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
