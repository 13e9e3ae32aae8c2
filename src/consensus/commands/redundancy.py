"""``consensus redundancy``: per item, accept it, buy k more labels, or send it to an expert."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from consensus.commands.common import (add_input_options, check_outputs, check_stdout, log, quarantine_path,
                                       read_from_args, report_accounting)
from consensus.methods import METHODS



def run(args: argparse.Namespace) -> int:
    from consensus.errors import ParameterError
    from consensus.io.writers import write_table
    from consensus.redundancy import advise_redundancy, importance_from_column, read_model_probs

    if args.summary_out is not None and Path(args.summary_out).suffix.lower() != ".json":
        raise ParameterError(f"--summary-out {args.summary_out!r} must be a .json file")
    check_stdout(("-o", args.output or "-"), ("--budget-out", args.budget_out), ("--summary-out", args.summary_out))
    check_outputs(args.output, quarantine_path(args, args.output), args.budget_out, args.summary_out,
                  getattr(args, "model_quarantine_out", None), args=args)
    judgments = read_from_args(args)
    report_accounting(judgments, args, args.output)
    importance = None
    if args.importance_col:
        source = args.input[0] if len(args.input) == 1 else list(args.input)
        importance = importance_from_column(judgments, source, args.importance_col)
    machine = None
    if args.model_probs:
        machine = read_model_probs(args.model_probs, judgments, item_col=args.model_item_col)
        log(machine.accounting_line())
        if machine.quarantine.height:
            path = args.model_quarantine_out or (str(Path(args.model_probs).with_suffix("")) + ".quarantine.csv")
            write_table(machine.quarantine, path)
            log(f"  quarantined {machine.quarantine.height}: item not in the judgments; written to {path}")
    exclude = None
    if args.exclude_flagged:
        from consensus.fraud import FraudConfig, run_detectors

        report = run_detectors(judgments, FraudConfig(seed=args.seed))
        exclude = report.flagged_mask
        if exclude.size and exclude.all():
            raise ParameterError(f"--exclude-flagged: the fraud detectors flag every annotator ({exclude.size}), so "
                                 "nobody would be left to label next; see `consensus fraud`, or run without "
                                 "--exclude-flagged")
        log(f"exclude-flagged: {int(exclude.sum())} flagged annotators left out of the pool that labels next")
    advice = advise_redundancy(
        judgments, target=args.target, max_labels=args.max_labels, price_per_label=args.price_per_label,
        model_probs=machine, importance=importance, method=args.method, exclude_workers=exclude,
        plan_level=args.plan_level, min_reach=args.min_reach, ambiguity_alpha=args.ambiguity_alpha,
        engine=args.engine, n_runs=args.runs, seed=args.seed, calibration=args.calibration, rho=args.rho)
    p = advice.params
    stopping = f"stopping times by {p['engine']} computation" if p["engine"] != "none" else \
        "no item needs more labels, so no stopping times were computed"
    log(f"model: {p['method']}, calibration temperature {p['temperature']:.3f}; pool of {p['pool_workers']} "
        f"annotators; {stopping}")
    for line in advice.summary_lines():
        log(line)
    write_table(advice.items, args.output)
    if args.output and args.output != "-":
        log(f"wrote {args.output} ({advice.items.height} items)")
    if args.budget_out:
        write_table(advice.budget, args.budget_out)
        log(f"wrote {args.budget_out} (budget per scheme)")
    if args.summary_out:
        Path(args.summary_out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.summary_out).write_text(json.dumps(advice.summary(), indent=2) + "\n", encoding="utf-8")
        log(f"wrote {args.summary_out}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    cmd = sub.add_parser(
        "redundancy", help="per item: accept, how many more labels to buy, or expert review; and the budget",
        description="Advise per item from the fitted model: accept (confidence at --target), label_more "
        "(extra_labels more from the annotator pool reach the target; computed exactly over future vote "
        "counts, or by seeded simulation), expert_review (mostly n/a, disagreement beyond what the "
        "annotators' accuracy explains, or the target is out of reach within --max-labels), or "
        "accept_model (--model-probs settles it). Prints labels and cost of fixed k-redundancy vs the advice.")
    add_input_options(cmd)
    adv = cmd.add_argument_group("advice")
    adv.add_argument("--target", type=float, default=0.95,
                     help="posterior the top class must reach (default 0.95)")
    adv.add_argument("--max-labels", type=int, default=7,
                     help="most judgments an item may get in total, abstentions included (default 7)")
    adv.add_argument("--price-per-label", type=float, metavar="P", help="price of one label (fills the cost columns)")
    adv.add_argument("--method", choices=METHODS, default="auto",
                     help="aggregation model (default auto; see `consensus aggregate --help`)")
    adv.add_argument("--model-probs", metavar="FILE",
                     help="machine-model probabilities: an item column and one column per class "
                     "(named <class>, p_<class> or prob_<class>); the model votes like an annotator whose "
                     "confusion is fitted against the crowd")
    adv.add_argument("--model-item-col", metavar="COL", help="item column of --model-probs (default: detected)")
    adv.add_argument("--model-quarantine-out", metavar="FILE",
                     help="where to write unused --model-probs rows (default <model-probs>.quarantine.csv)")
    adv.add_argument("--importance-col", metavar="COL",
                     help="per-row importance in the input: a number >= 1, or low/normal/medium (1), high (2), "
                     "critical/safety (10); empty = 1; an item takes its rows' largest; "
                     "target becomes 1 - (1 - target) / importance")
    adv.add_argument("--exclude-flagged", action="store_true",
                     help="run `consensus fraud` (default settings) and leave flagged annotators out of the pool")
    adv.add_argument("--plan-level", type=float, default=0.5,
                     help="extra_labels = smallest k that reaches the target with this probability (default 0.5)")
    adv.add_argument("--min-reach", type=float, default=0.5,
                     help="expert_review when the target is reached within the budget with a lower "
                     "probability (default 0.5)")
    adv.add_argument("--ambiguity-alpha", type=float, default=0.01,
                     help="expert_review when an item's disagreement has a smaller p-value (default 0.01)")
    adv.add_argument("--engine", choices=("auto", "exact", "simulate"), default="auto",
                     help="exact enumeration of vote counts, seeded simulation, or auto (exact when small)")
    adv.add_argument("--calibration", choices=("auto", "per_item", "model"), default="auto",
                     help="per_item: temperature 1 + rho * (n - 1) for an item with n answers (correlated "
                     "errors); model: the model's single temperature; auto: per_item for EM models (default)")
    adv.add_argument("--rho", type=float, metavar="R",
                     help="intra-item error correlation of per_item, in [0, 1] (default: fitted on gold if "
                     "--gold is given, else leave-one-out)")
    adv.add_argument("--runs", type=int, default=4000, help="simulated label sequences per item (default 4000)")
    adv.add_argument("--seed", type=int, default=0, help="seed of the tie-break and the simulation (default 0)")
    out = cmd.add_argument_group("output (format from the extension: .csv .tsv .parquet .json .jsonl)")
    out.add_argument("-o", "--output", metavar="FILE", help="advice per item (default: CSV on stdout)")
    out.add_argument("--budget-out", metavar="FILE", help="budget table: fixed k-redundancy vs the advice")
    out.add_argument("--summary-out", metavar="FILE.json", help="headline numbers as JSON")
    cmd.set_defaults(handler=run)
