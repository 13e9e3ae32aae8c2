"""``consensus agreement``: how much the annotators agree (alpha, kappas, per-item agreement)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from consensus.commands.common import (add_input_options, check_outputs, check_stdout, log, quarantine_path,
                                       read_from_args, report_accounting)


def _check_json_path(path: str | None) -> None:
    from consensus.errors import ParameterError

    if path is None or path == "-":
        return
    if Path(path).suffix.lower() != ".json":
        raise ParameterError(f"cannot write {path!r}: --json writes JSON; give a file name ending "
                             "in .json (or - for stdout)")
    if Path(path).is_dir():
        raise ParameterError(f"cannot write {path!r}: it is a directory")


def run(args: argparse.Namespace) -> int:
    from consensus.agreement_metrics import agreement
    from consensus.errors import ParameterError
    from consensus.io.writers import write_table

    if args.min_overlap < 1:
        raise ParameterError(f"--min-overlap must be at least 1; got {args.min_overlap}")
    outputs = (("-o", args.output), ("--pairs-out", args.pairs_out), ("--json", args.json))
    check_stdout(*outputs)
    to_stdout = [flag for flag, path in outputs if path == "-"]
    _check_json_path(args.json)
    check_outputs(args.output, args.pairs_out, args.json, quarantine_path(args, args.output), args=args)

    judgments = read_from_args(args)
    report_accounting(judgments, args, args.output)
    report = agreement(judgments, min_overlap=args.min_overlap)
    # The summary is this command's result: stdout, unless a table or the JSON goes there.
    say = log if to_stdout else print
    for line in report.summary_lines():
        say(line)
    if args.output:
        write_table(report.items, args.output)
        if args.output != "-":
            log(f"wrote {args.output} ({report.items.height} items)")
    if args.pairs_out:
        write_table(report.pairs, args.pairs_out)
        if args.pairs_out != "-":
            log(f"wrote {args.pairs_out} ({report.pairs.height} annotator pairs)")
    if args.json:
        text = json.dumps({"source": judgments.source, **report.summary}, indent=2) + "\n"
        if args.json == "-":
            sys.stdout.write(text)
        else:
            path = Path(args.json)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            log(f"wrote {args.json} (summary)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    cmd = sub.add_parser(
        "agreement", help="inter-annotator agreement: Krippendorff's alpha, Fleiss' and Cohen's kappa",
        description="Measure how much annotators agree: Krippendorff's alpha (nominal), Fleiss' "
        "kappa, Cohen's kappa per annotator pair, and per-item agreement and entropy. "
        "Abstentions ('can't tell') are ignored. Prints the summary.")
    add_input_options(cmd)
    opts = cmd.add_argument_group("agreement")
    opts.add_argument("--min-overlap", type=int, default=10, metavar="N",
                      help="least number of co-labelled items for an annotator pair to get a "
                      "Cohen's kappa (default 10)")
    out = cmd.add_argument_group("output (format from the extension: .csv .tsv .parquet .json .jsonl)")
    out.add_argument("-o", "--output", metavar="FILE",
                     help="per-item table: item, n_labels, n_na, agreement, entropy (- for stdout)")
    out.add_argument("--pairs-out", metavar="FILE",
                     help="annotator pairs: worker_a, worker_b, n_items, agreement, kappa")
    out.add_argument("--json", metavar="FILE", help="the summary as a JSON object")
    cmd.set_defaults(handler=run)
