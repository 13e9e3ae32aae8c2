"""``consensus fraud``: which annotators to reject, why, and how sure we are."""

from __future__ import annotations

import argparse
from pathlib import Path

from consensus.commands.common import (add_input_options, check_outputs, check_stdout, log, quarantine_path,
                                       read_from_args, report_accounting)


def _for_file(frame, path: str | None):  # noqa: ANN001, ANN202 - polars in, polars out
    """List columns become ``;``-separated text for CSV/TSV/stdout, which cannot hold lists."""
    import polars as pl

    if path not in (None, "-") and Path(path).suffix.lower() not in (".csv", ".tsv"):
        return frame
    lists = [name for name, dtype in frame.schema.items() if isinstance(dtype, pl.List)]
    return frame.with_columns(pl.col(name).list.join(";") for name in lists) if lists else frame


def config_from_args(args: argparse.Namespace):  # noqa: ANN201 - FraudConfig
    from consensus.fraud import FraudConfig

    options = {
        "fdr": args.fdr, "min_judgments": args.min_judgments, "min_seconds": args.min_seconds,
        "floor_sds": args.floor_sds, "burst_window": args.burst_window, "burst_size": args.burst_size,
        "co_window": args.co_window, "gold_threshold": args.gold_threshold, "seed": args.seed,
    }
    if args.detectors:
        from consensus.errors import ParameterError
        from consensus.fraud.config import DETECTORS

        options["detectors"] = tuple(d.strip() for d in args.detectors.split(",") if d.strip())
        unknown = [d for d in options["detectors"] if d not in DETECTORS]
        if unknown or not options["detectors"]:
            what = "unknown " + ", ".join(map(repr, unknown)) if unknown else "empty"
            raise ParameterError(f"--detectors {args.detectors!r}: {what}; choose from {','.join(DETECTORS)}")
    return FraudConfig(**options)


def run(args: argparse.Namespace) -> int:
    from consensus.fraud import run_detectors
    from consensus.io.writers import write_table

    outputs = (("-o", args.output), ("--judgments-out", args.judgments_out), ("--pairs-out", args.pairs_out),
               ("--gold-items-out", args.gold_items_out))
    check_stdout(*outputs)
    check_outputs(*(path for _, path in outputs), quarantine_path(args, args.output), args=args)
    config = config_from_args(args)  # parameter errors before reading anything
    judgments = read_from_args(args)
    report_accounting(judgments, args, args.output)
    report = run_detectors(judgments, config)
    for line in report.summary_lines():
        log(line)
    write_table(_for_file(report.workers, args.output), args.output)
    if args.output and args.output != "-":
        log(f"wrote {args.output} ({report.workers.height} annotators, {int(report.flagged_mask.sum())} flagged)")
    if args.judgments_out:
        write_table(_for_file(report.judgments, args.judgments_out), args.judgments_out)
        if args.judgments_out != "-":
            log(f"wrote {args.judgments_out} ({report.judgments.height} flagged judgments)")
    if args.pairs_out:
        write_table(_for_file(report.pairs, args.pairs_out), args.pairs_out)
        if args.pairs_out != "-":
            log(f"wrote {args.pairs_out} ({report.pairs.height} annotator pairs)")
    if args.gold_items_out:
        if report.gold_items is None:
            why = "the honeypot detector is not among --detectors" if "honeypot" not in config.detectors \
                else "no gold given"
            log(f"--gold-items-out {args.gold_items_out}: {why}, nothing written")
        else:
            write_table(_for_file(report.gold_items, args.gold_items_out), args.gold_items_out)
            if args.gold_items_out != "-":
                log(f"wrote {args.gold_items_out} ({report.gold_items.height} gold items)")
    return 0


def add_fraud_options(parser: argparse.ArgumentParser) -> None:
    """The detector options (``consensus fraud``; ``aggregate --exclude-flagged`` uses the defaults)."""
    from consensus.fraud.config import DETECTORS

    opts = parser.add_argument_group("detectors")
    opts.add_argument("--detectors", metavar="LIST",
                      help=f"comma-separated subset of {','.join(DETECTORS)} (default: all)")
    opts.add_argument("--fdr", type=float, default=0.05,
                      help="false discovery rate controlled across annotators (default 0.05)")
    opts.add_argument("--min-judgments", type=int, default=10, metavar="N",
                      help="least judgments behind any test; fewer means no flag (default 10)")
    opts.add_argument("--min-seconds", type=float, metavar="S",
                      help="fixed speed floor in seconds (default: learned from the durations)")
    opts.add_argument("--floor-sds", type=float, default=1.5, metavar="K",
                      help="learned floor = exp(median - K x robust sd) of log seconds (default 1.5)")
    opts.add_argument("--burst-window", type=float, default=10.0, metavar="S",
                      help="seconds in which --burst-size submissions make a burst (default 10)")
    opts.add_argument("--burst-size", type=int, default=5, metavar="N", help="submissions in a burst (default 5)")
    opts.add_argument("--co-window", type=float, default=10.0, metavar="S",
                      help="two submissions on one item this close are co-timed (default 10)")
    opts.add_argument("--gold-threshold", type=float, metavar="A",
                      help="flag when the 95%% upper bound of gold accuracy is below A "
                      "(default: halfway between chance and 1)")


def register(sub: argparse._SubParsersAction) -> None:
    cmd = sub.add_parser(
        "fraud", help="flag annotators who speed, straight-line, click at random, copy or fail honeypots",
        description="Audit a delivery for fraud: speed traps (learned or --min-seconds floor, bursts), "
        "straight-lining, random clicking, copying and co-timed pairs, failed honeypots (--gold). "
        "One row per annotator with its flags, a fraud score in [0, 1] and the evidence (statistic, "
        "threshold, p-value) of every test; the false discovery rate is controlled across annotators.")
    add_input_options(cmd)
    add_fraud_options(cmd)
    cmd.add_argument("--seed", type=int, default=0, help="seed of the consensus's tie-break (default 0)")
    out = cmd.add_argument_group("output (format from the extension: .csv .tsv .parquet .json .jsonl)")
    out.add_argument("-o", "--output", metavar="FILE",
                     help="annotator table (default: CSV on stdout; lists are ';'-joined in CSV/TSV)")
    out.add_argument("--judgments-out", metavar="FILE", help="judgments that tripped a per-judgment rule")
    out.add_argument("--pairs-out", metavar="FILE", help="suspicious annotator pairs (copying, co-timing)")
    out.add_argument("--gold-items-out", metavar="FILE",
                     help="gold items with the crowd's support (and which it contradicts)")
    cmd.set_defaults(handler=run)
