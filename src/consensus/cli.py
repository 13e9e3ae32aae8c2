"""The ``consensus`` command line.

Messages go to stderr, tables to the named files (or CSV on stdout). Exit
status: 0 on success, 2 on bad input or parameters (one-line message, no
traceback), 1 on an unexpected failure.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from consensus._version import __version__

METHODS = ("mv", "ds")


def _log(message: str) -> None:
    print(message, file=sys.stderr)


def add_input_options(parser: argparse.ArgumentParser) -> None:
    """Options every subcommand that reads judgments shares."""
    parser.add_argument("input", nargs="+", help="judgment file(s) or a quoted glob "
                        "(CSV, TSV, Parquet, JSONL, JSON; MTurk and Toloka exports as they are)")
    cols = parser.add_argument_group("columns (detected from common export formats when omitted)")
    cols.add_argument("--item-col", help="item id column (e.g. item, task, HITId, INPUT:*)")
    cols.add_argument("--worker-col", help="annotator id column (e.g. worker, WorkerId, ASSIGNMENT:worker_id)")
    cols.add_argument("--label-col", help="label column (e.g. label, OUTPUT:*, Answer.*; "
                      "an MTurk radio group by its prefix, e.g. Answer.sentiment)")
    cols.add_argument("--duration-col", help="seconds per judgment (e.g. WorkTimeInSeconds)")
    cols.add_argument("--start-col", help="start timestamp (durations = submit - start)")
    cols.add_argument("--submit-col", help="submission timestamp")
    cols.add_argument("--gold-col", help="in-file gold answers (e.g. GOLDEN:*)")
    data = parser.add_argument_group("data")
    data.add_argument("--gold", help="gold file with an item and a label column")
    data.add_argument("--gold-item-col", help="item column of the gold file")
    data.add_argument("--gold-label-col", help="label column of the gold file")
    data.add_argument("--na-label", action="append", metavar="VALUE",
                      help="an answer meaning 'can't tell' (repeatable; replaces the default set "
                      "'', n/a, na, cant_tell, can't tell, cannot tell)")
    data.add_argument("--no-na", action="store_true", help="treat no answer as 'can't tell'")
    data.add_argument("--classes", help="comma-separated declared class list; other labels are quarantined")
    data.add_argument("--duplicates", choices=("first", "last", "error"), default="first",
                      help="repeated (item, worker) judgments: keep first/last, quarantine the rest (default first)")
    data.add_argument("--quarantine-out", metavar="FILE",
                      help="where to write unused rows with their reason "
                      "(default: next to -o as <name>.quarantine.csv)")


def read_from_args(args: argparse.Namespace):  # noqa: ANN201 - returns Judgments
    from consensus.io.judgments import DEFAULT_NA_LABELS, read_judgments

    na_labels: tuple[str, ...] | list[str]
    if args.no_na:
        na_labels = ()
    elif args.na_label is not None:
        na_labels = args.na_label
    else:
        na_labels = DEFAULT_NA_LABELS
    source = args.input[0] if len(args.input) == 1 else list(args.input)
    return read_judgments(
        source,
        item_col=args.item_col, worker_col=args.worker_col, label_col=args.label_col,
        duration_col=args.duration_col, start_col=args.start_col, submit_col=args.submit_col,
        gold_col=args.gold_col, gold=args.gold, gold_item_col=args.gold_item_col,
        gold_label_col=args.gold_label_col, na_labels=na_labels,
        classes=[c.strip() for c in args.classes.split(",")] if args.classes else None,
        duplicates=args.duplicates,
    )


def report_accounting(judgments, args: argparse.Namespace, output: str | None) -> None:  # noqa: ANN001
    """Print the row-accounting lines and write the quarantine file."""
    import polars as pl

    from consensus.io.writers import write_table

    _log(f"read {judgments.source}: {judgments.n_items} items, {judgments.n_workers} workers, "
         f"{judgments.n_classes} classes {judgments.classes}")
    _log(judgments.accounting_line())
    gold_line = judgments.gold_accounting_line()
    if gold_line:
        _log(gold_line)
    parts = [q for q in (judgments.quarantine, judgments.gold_quarantine) if q is not None and q.height]
    if not parts:
        return
    quarantine = pl.concat(parts, how="diagonal_relaxed")
    for reason, count in quarantine.group_by(pl.col("reason").str.replace(r" row \d+$", "")) \
            .len().sort("len", descending=True).head(5).iter_rows():
        _log(f"  quarantined {count}: {reason}")
    path = args.quarantine_out
    if path is None:
        path = (str(Path(output).with_suffix("")) + ".quarantine.csv") if output and output != "-" \
            else "consensus.quarantine.csv"
    write_table(quarantine, path)
    _log(f"quarantined rows written to {path}")


def cmd_aggregate(args: argparse.Namespace) -> int:
    from consensus.io.writers import write_table
    from consensus.models import DawidSkene, MajorityVote

    judgments = read_from_args(args)
    report_accounting(judgments, args, args.output)
    if args.method == "mv":
        model = MajorityVote(tie_break=args.tie_break, random_state=args.seed)
    else:
        model = DawidSkene(max_iter=args.max_iter, tol=args.tol, alpha=args.alpha, beta=args.beta,
                           prior_accuracy=args.prior_accuracy, prior_strength=args.prior_strength,
                           tie_break=args.tie_break, random_state=args.seed)
    model.fit(judgments)
    if args.method == "ds":
        state = "converged" if model.converged_ else "stopped at --max-iter"
        _log(f"dawid-skene: {state} after {model.n_iter_} iterations, "
             f"penalised log-likelihood {model.log_likelihood_history_[-1]:.4f}")
    items = model.item_table()
    n_na = int((items["status"] == "mostly_na").sum())
    n_tied = int((model.n_tied_ > 1).sum())
    _log(f"items: {items.height} ({items.height - n_na} labelled, {n_na} mostly n/a, "
         f"{n_tied} ties broken by --tie-break {args.tie_break}); "
         f"mean confidence {items['confidence'].mean():.4f}")
    if judgments.gold is not None:
        _log(f"gold: {int((judgments.gold >= 0).sum())} items"
             + (" clamped to their gold label during EM" if args.method == "ds" else
                " (majority vote does not use gold)"))
    write_table(items, args.output)
    if args.output and args.output != "-":
        _log(f"wrote {args.output} ({items.height} items)")
    if args.workers_out:
        workers = model.worker_table()
        write_table(workers, args.workers_out)
        _log(f"wrote {args.workers_out} ({workers.height} workers)")
    if args.confusion_out:
        write_table(model.confusion_table(), args.confusion_out)
        _log(f"wrote {args.confusion_out} (confusion matrices, long form)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="consensus", description="Audit and aggregate human labels.")
    parser.add_argument("--version", action="version", version=f"consensus {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    agg = sub.add_parser(
        "aggregate", help="best label per item with confidence, and annotator reliability",
        description="Aggregate judgments into one label per item (majority vote or Dawid-Skene) "
        "with the probability of every class, and estimate each annotator's reliability.")
    add_input_options(agg)
    model = agg.add_argument_group("model")
    model.add_argument("--method", choices=METHODS, default="ds",
                       help="mv = majority vote, ds = Dawid-Skene EM (default)")
    model.add_argument("--max-iter", type=int, default=100, help="EM iterations at most (default 100)")
    model.add_argument("--tol", type=float, default=1e-7,
                       help="stop when the relative log-likelihood gain is below this (default 1e-7)")
    model.add_argument("--alpha", type=float, default=0.01,
                       help="Dirichlet pseudo-count per confusion cell (default 0.01)")
    model.add_argument("--beta", type=float, default=1.0, help="Dirichlet pseudo-count per class prior (default 1)")
    model.add_argument("--prior-accuracy", type=float, default=0.8,
                       help="mean diagonal of the default prior confusion matrix (default 0.8)")
    model.add_argument("--prior-strength", type=float, default=4.0,
                       help="pseudo-judgments per true class of that prior; 0 = maximum likelihood (default 4)")
    model.add_argument("--tie-break", choices=("random", "first"), default="random",
                       help="how exact ties are broken (default random, seeded)")
    model.add_argument("--seed", type=int, default=0, help="seed of the tie-break (default 0)")
    out = agg.add_argument_group("output (format from the extension: .csv .tsv .parquet .json .jsonl)")
    out.add_argument("-o", "--output", help="item table (default: CSV on stdout)")
    out.add_argument("--workers-out", metavar="FILE", help="worker table with accuracy and confusion columns")
    out.add_argument("--confusion-out", metavar="FILE", help="confusion matrices in long form")
    agg.set_defaults(handler=cmd_aggregate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is None:
        parser.print_help(sys.stderr)
        return 2
    from consensus.errors import ConsensusError

    try:
        return int(args.handler(args))
    except ConsensusError as exc:
        _log(f"consensus {args.command}: error: {exc}")
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
