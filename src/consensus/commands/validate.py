"""``consensus validate``: check a claimed accuracy against gold, or plan the gold audit (``--plan``)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from consensus.commands.common import (add_input_options, check_outputs, log, quarantine_path, read_from_args,
                                       report_accounting)
from consensus.methods import METHODS, VOTE_METHODS

TABLE_FORMATS = ("csv", "parquet", "tsv", "jsonl")


def fraction(text: str) -> float:
    """Parse ``0.96`` or ``96%`` (argparse type)."""
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100.0 if raw.endswith("%") else float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number; write e.g. 0.96 or 96%") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a share between 0 and 1; write e.g. 0.96 or 96%")
    return value


def _check_report_path(path: str | None) -> None:
    from consensus.errors import ParameterError

    if path is None or path == "-":
        return
    if Path(path).suffix.lower() != ".json":
        raise ParameterError(f"cannot write {path!r}: the report is JSON; name it e.g. report.json")
    if Path(path).is_dir():
        raise ParameterError(f"cannot write {path!r}: it is a directory")


def _write_report(text: str, path: str | None) -> None:
    if path is None or path == "-":
        print(text)
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(text + "\n", encoding="utf-8")
    log(f"wrote {path}")


def _check_tables_folder(folder: str | None) -> None:
    """``--tables-out`` must be a folder (or not exist yet): checked before anything is written."""
    from consensus.errors import ParameterError

    if folder is not None and Path(folder).exists() and not Path(folder).is_dir():
        raise ParameterError(f"--tables-out {folder!r} is a file; give a folder (it is created if missing)")


def _write_tables(tables: dict, folder: str | None, fmt: str) -> None:  # noqa: ANN001 - name -> polars frame
    if folder is None:
        return
    from consensus.io.writers import write_table

    Path(folder).mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        path = Path(folder) / f"{name}.{fmt}"
        write_table(table, str(path))
    log(f"wrote {len(tables)} tables to {folder}/ ({', '.join(tables)})")


def run_plan(args: argparse.Namespace) -> int:
    from consensus.claims import acceptance_plan, plan_audit
    from consensus.errors import ParameterError

    if args.input:
        raise ParameterError("--plan takes no INPUT: it sizes a gold audit before there is data; "
                             "drop the file names, or drop --plan to validate them")
    _check_tables_folder(args.tables_out)
    plan = plan_audit(args.claimed_accuracy, margin=args.margin, power=args.power, confidence=args.confidence)
    sampling = acceptance_plan(args.claimed_accuracy, margin=args.margin, producer_risk=args.producer_risk,
                               consumer_risk=args.consumer_risk)
    log(f"plan: {plan.message}")
    log(f"plan: {sampling.message}")
    report = {"plan": plan.summary, "acceptance_plan": sampling.summary}
    _write_report(json.dumps(report, indent=2), args.output)
    _write_tables({"power_curve": plan.power_curve, "oc_curve": sampling.oc_curve}, args.tables_out,
                  args.tables_format)
    return 0


def run(args: argparse.Namespace) -> int:
    from consensus.claims import validate_claim
    from consensus.claims.validation import BLIND_CALIBRATION, claim_settings
    from consensus.errors import ParameterError

    _check_report_path(args.output)
    if args.plan:
        return run_plan(args)
    if not args.input:
        raise ParameterError("give the delivery to check (INPUT), or --plan to size a gold audit")
    check_outputs(args.output, quarantine_path(args, args.output), args=args)
    _check_tables_folder(args.tables_out)
    # every option is checked before the input is read, so a bad one writes nothing
    claim_settings("validate", args.claimed_accuracy, args.confidence, args.margin, args.claim_level, args.method,
                   args.n_boot, args.seed)
    judgments = read_from_args(args)
    report_accounting(judgments, args, args.output)
    has_gold = judgments.gold is not None and bool((judgments.gold >= 0).any())
    calibrated = "" if args.method in VOTE_METHODS else f", calibration {BLIND_CALIBRATION}"
    log(f"validate: delivered row labels = {args.method} fitted without gold{calibrated} (gold only scores them)"
        + ("" if has_gold else "; no gold: model-based ESTIMATE with a bootstrap interval"))
    result = validate_claim(judgments, args.claimed_accuracy, confidence=args.confidence, margin=args.margin,
                            claim_level=args.claim_level, method=args.method, n_boot=args.n_boot,
                            random_state=args.seed)
    for row in result.overall.iter_rows(named=True):
        mark = "  <- the claim" if row["level"] == args.claim_level else ""
        correct = "" if row["correct"] is None else f"{row['correct']:,}/"
        log(f"  {row['level']:8s} {correct}{row['n']:,} accuracy {_pct(row['accuracy'])} "
            f"[{row['interval']} {_pct(row['lower'])}, {_pct(row['upper'])}] "
            f"one-sided bounds {_pct(row['lower_bound'])} .. {_pct(row['upper_bound'])}: {row['verdict']}{mark}")
    log(f"validate: {result.message}")
    _write_report(result.to_json(), args.output)
    _write_tables(result.tables, args.tables_out, args.tables_format)
    return 0


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100.0 * x:.1f}%"


def register(sub: argparse._SubParsersAction) -> None:
    val = sub.add_parser(
        "validate", help="check a claimed accuracy against gold (or plan the gold audit with --plan)",
        description="Check a vendor's claimed accuracy. With gold: accuracy of the delivered row labels "
        "and of the judgments with exact Clopper-Pearson and Wilson intervals, a one-sided exact "
        "binomial test and a verdict (supported / not_supported / refuted). Without gold: the model's "
        "estimate with a bootstrap interval, flagged as an estimate. With --plan (no INPUT): how many "
        "gold items to check, and an acceptance-sampling plan.")
    add_input_options(val)
    for action in val._actions:  # INPUT is optional here: --plan needs none
        if action.dest == "input":
            action.nargs = "*"
    claim = val.add_argument_group("claim")
    claim.add_argument("--claimed-accuracy", type=fraction, required=True, metavar="A",
                       help="the vendor's claimed accuracy, e.g. 0.96 or 96%%")
    claim.add_argument("--claim-level", choices=("row", "judgment"), default="row",
                       help="the claim is about delivered row labels (default) or individual judgments")
    claim.add_argument("--confidence", type=float, default=0.95,
                       help="confidence of intervals, bounds and test (default 0.95)")
    claim.add_argument("--margin", type=fraction, default=0.02,
                       help="'supported' needs the lower bound within this many points of the claim; the "
                       "planner's effect size (default 0.02)")
    claim.add_argument("--method", choices=METHODS, default="auto",
                       help="the model that delivers the row labels, as in 'consensus aggregate' (default auto), "
                       "fitted without gold with the gold-free per-item calibration")
    claim.add_argument("--n-boot", type=int, default=2000, help="bootstrap replicates without gold (default 2000)")
    claim.add_argument("--seed", type=int, default=0, help="seed of the bootstrap and tie-breaks (default 0)")
    plan = val.add_argument_group("planning (--plan, no INPUT)")
    plan.add_argument("--plan", action="store_true",
                      help="size a gold audit for --claimed-accuracy and --margin instead of validating")
    plan.add_argument("--power", type=float, default=0.8,
                      help="wanted probability of the right verdict (default 0.8)")
    plan.add_argument("--producer-risk", type=float, default=0.05,
                      help="acceptance plan: P(reject) allowed at the claimed accuracy (default 0.05)")
    plan.add_argument("--consumer-risk", type=float, default=0.10,
                      help="acceptance plan: P(accept) allowed at claim - margin (default 0.10)")
    out = val.add_argument_group("output")
    out.add_argument("-o", "--output", metavar="REPORT.json",
                     help="summary JSON with every figure and the verdict (default: stdout)")
    out.add_argument("--tables-out", metavar="DIR", help="write the tables (overall, by_class, by_annotator, "
                     "by_day, bootstrap; with --plan: power_curve, oc_curve) into this folder")
    out.add_argument("--tables-format", choices=TABLE_FORMATS, default="csv",
                     help="file format of --tables-out (default csv)")
    val.set_defaults(handler=run)
