"""What the subcommands share: input options, reading, row accounting, output checks."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def log(message: str) -> None:
    print(message, file=sys.stderr)


def add_input_options(parser: argparse.ArgumentParser,
                      quarantine_default: str = "the output's name with .quarantine.csv; "
                      "consensus.quarantine.csv when the output goes to stdout") -> None:
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
    na = data.add_mutually_exclusive_group()
    na.add_argument("--na-label", action="append", metavar="VALUE",
                    help="an answer meaning 'can't tell' (repeatable; replaces the default set "
                    "'', n/a, na, cant_tell, can't tell, cannot tell; case-insensitive)")
    na.add_argument("--no-na", action="store_true",
                    help="no answer means 'can't tell': empty labels are quarantined and "
                    "'n/a' etc. are ordinary classes")
    data.add_argument("--classes", help="comma-separated declared class list; other labels are quarantined")
    data.add_argument("--duplicates", choices=("first", "last", "error"), default="first",
                      help="repeated (item, worker) judgments: keep first/last, quarantine the rest (default first)")
    data.add_argument("--keep-rejected", action="store_true",
                      help="MTurk batches: keep judgments of assignments the requester rejected "
                      "(AssignmentStatus = Rejected; quarantined by default)")
    data.add_argument("--quarantine-out", metavar="FILE",
                      help=f"where to write unused rows with their reason (default: {quarantine_default})")


def parse_classes(args: argparse.Namespace) -> list[str] | None:
    """``--classes a,b,c`` as a list (None when not given); an empty name is an error."""
    from consensus.errors import ParameterError

    if args.classes is None:
        return None
    classes = [c.strip() for c in args.classes.split(",")]
    if not all(classes):
        raise ParameterError(f"--classes {args.classes!r} has an empty class name; "
                             "give a comma-separated list such as --classes cat,dog")
    return classes


def parse_coords(value: str | None) -> tuple[str, ...] | None:
    """``--coords A,B,C,D`` as four column names (None when not given)."""
    from consensus.errors import ParameterError

    if not value:
        return None
    coords = tuple(c.strip() for c in value.split(","))
    if len(coords) != 4 or not all(coords):
        raise ParameterError(f"--coords {value!r} must name 4 columns, e.g. --coords x0,y0,x1,y1")
    return coords


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
    classes = parse_classes(args)
    return read_judgments(
        source,
        item_col=args.item_col, worker_col=args.worker_col, label_col=args.label_col,
        duration_col=args.duration_col, start_col=args.start_col, submit_col=args.submit_col,
        gold_col=args.gold_col, gold=args.gold, gold_item_col=args.gold_item_col,
        gold_label_col=args.gold_label_col, na_labels=na_labels,
        classes=classes,
        duplicates=args.duplicates,
        rejected="keep" if getattr(args, "keep_rejected", False) else "quarantine",
    )


def report_accounting(judgments, args: argparse.Namespace, output: str | None,  # noqa: ANN001
                      quiet: bool = False) -> None:
    """Print the row-accounting lines (unless ``quiet``) and write the quarantine file (always)."""
    import polars as pl

    from consensus.io.writers import write_table

    def log(message: str) -> None:
        if not quiet:
            print(message, file=sys.stderr)

    log(f"read {judgments.source}: {judgments.n_items} items, {judgments.n_workers} workers, "
         f"{judgments.n_classes} classes {judgments.classes}")
    if judgments.n_classes == 1:
        log(f"warning: one class only ({judgments.classes[0]!r}): every label is that class with confidence 1 "
            "and the annotators cannot disagree; is --label-col the answer column?")
    log(judgments.accounting_line())
    gold_line = judgments.gold_accounting_line()
    if gold_line:
        log(gold_line)
    parts = [q for q in (judgments.quarantine, judgments.gold_quarantine) if q is not None and q.height]
    if not parts:
        return
    quarantine = pl.concat(parts, how="diagonal_relaxed")
    log_reasons(quarantine, log)
    path = quarantine_path(args, output)
    write_table(quarantine, path)
    log(f"quarantined rows written to {path}")
    _refuse_unusable_gold(judgments, path)


def _refuse_unusable_gold(judgments, quarantine_file: str) -> None:  # noqa: ANN001
    """Stop when gold was given and not one row of it is usable (ids that do not match, say).

    Going on would quietly turn a gold audit into a gold-free estimate, with perhaps the opposite verdict.
    """
    from consensus.errors import InputError

    q = judgments.gold_quarantine
    if judgments.gold is None or q is None or q.height == 0 or q.height < judgments.n_gold_rows:
        return
    top = q.get_column("reason").value_counts(sort=True).row(0)
    gold_ids = q.get_column("item").drop_nulls().head(2).to_list()
    ours = judgments.item_ids.head(2).to_list()
    source = q.get_column("source")[0] if "source" in q.columns else None
    raise InputError(f"no gold row is usable: all {q.height} were quarantined (mostly: {top[0]}, {top[1]} rows); "
                     f"gold items look like {gold_ids}, the delivery's like {ours}: check the id columns "
                     f"(--gold-item-col) before validating against gold; the rows are in {quarantine_file}",
                     source=source)


def quarantine_path(args: argparse.Namespace, output: str | None, stdout_name: str = "consensus") -> str:
    """``--quarantine-out``, or the output's name with ``.quarantine.csv`` (``<stdout_name>.quarantine.csv``
    when the output goes to stdout)."""
    if args.quarantine_out is not None:
        return args.quarantine_out
    return (str(Path(output).with_suffix("")) + ".quarantine.csv") if output and output != "-" \
        else f"{stdout_name}.quarantine.csv"


def log_reasons(quarantine, say) -> None:  # noqa: ANN001 - a polars frame with "reason"; a print function
    """The five commonest quarantine reasons with their counts, ties in reason order (rows left out)."""
    import polars as pl

    from consensus.io.judgments import reason_kind

    for reason, count in quarantine.group_by(reason_kind(pl.col("reason"))) \
            .len().sort(["len", "reason"], descending=[True, False]).head(5).iter_rows():
        say(f"  quarantined {count}: {reason}")


def _input_files(args: argparse.Namespace | None) -> dict[Path, str]:
    """The files this command reads (inputs, globs expanded, gold, model probabilities) by resolved path."""
    if args is None:
        return {}
    import glob

    named = [*(getattr(args, "input", None) or []), getattr(args, "gold", None), getattr(args, "model_probs", None),
             getattr(args, "seen", None), getattr(args, "boxes", None)]
    files: dict[Path, str] = {}
    for pattern in named:
        if not isinstance(pattern, str) or pattern == "-":
            continue
        for name in sorted(glob.glob(pattern)) or [pattern]:
            files[Path(name).resolve()] = name
    return files


def check_stdout(*outputs: tuple[str, str | None]) -> None:
    """Fail when more than one output goes to stdout (``-``): their tables would run together.

    ``outputs`` are ``(flag, path)``; give ``"-"`` for an output that defaults to stdout when not named.
    """
    from consensus.errors import ParameterError

    to_stdout = [flag for flag, path in outputs if path == "-"]
    if len(to_stdout) > 1:
        raise ParameterError(f"only one output can go to stdout; {' and '.join(to_stdout)} "
                             f"{'both' if len(to_stdout) == 2 else 'all'} name '-': give the others file names")


def check_outputs(*paths: str | None, args: argparse.Namespace | None = None) -> None:
    """Fail before any work when an output path has an unknown extension or cannot be a file, when two
    outputs name one file (the second would replace the first), or an output is one of the inputs (``args``)."""
    from consensus.errors import ParameterError
    from consensus.io.writers import FORMATS

    inputs = _input_files(args)
    seen: dict[Path, str] = {}
    for path in paths:
        if path is None or path == "-":
            continue
        key = Path(path).resolve()
        if key in seen:
            raise ParameterError(f"cannot write {path!r} twice: two outputs name it (one would replace the "
                                 "other); give each output its own file")
        if key in inputs:
            raise ParameterError(f"cannot write {path!r}: it is an input of this command and would be replaced; "
                                 "write the output elsewhere")
        seen[key] = path
    for path in paths:
        if path is None or path == "-":
            continue
        suffix = Path(path).suffix.lower()
        if suffix not in FORMATS:
            raise ParameterError(f"cannot write {path!r}: unknown output extension {suffix or '(none)'!r}; "
                                 f"use one of {', '.join(FORMATS)}")
        if Path(path).is_dir():
            raise ParameterError(f"cannot write {path!r}: it is a directory")
        existing = next(parent for parent in Path(path).absolute().parents if parent.exists())
        if not existing.is_dir():
            raise ParameterError(f"cannot write {path!r}: {str(existing)!r} is a file, not a folder")
