"""``consensus boxes``: consensus bounding boxes, agreement, annotator quality and box flags."""

from __future__ import annotations

import argparse

from consensus.commands.common import (check_outputs, check_stdout, log, log_reasons, parse_coords,
                                       quarantine_path)


def run(args: argparse.Namespace) -> int:
    from consensus.boxes import BoxConsensus, read_boxes
    from consensus.errors import InputError
    from consensus.io.writers import write_table

    outputs = (("-o", args.output), ("--images-out", args.images_out), ("--workers-out", args.workers_out),
               ("--flags-out", args.flags_out))
    check_stdout(*outputs)
    check_outputs(*(path for _, path in outputs), _quarantine_path(args), args=args)
    model = BoxConsensus(iou_threshold=args.iou, class_aware=not args.class_agnostic, fusion=args.fusion,
                         min_confidence=args.min_confidence, keep_all=args.keep_all,
                         min_evidence=args.min_evidence, max_doubt=args.max_doubt,
                         min_explained=args.min_explained, review_after=args.review_after,
                         fast_seconds=args.fast_seconds)
    model._check()  # parameter errors before reading anything
    coords = parse_coords(args.coords)
    normalized = {"auto": None, "normalized": True, "pixels": False}[args.units]
    source = args.input[0] if len(args.input) == 1 else list(args.input)
    try:
        data = read_boxes(source, box_format=args.box_format, normalized=normalized, image_col=args.image_col,
                          worker_col=args.worker_col, label_col=args.label_col, coord_cols=coords,
                          width_col=args.width_col, height_col=args.height_col, duration_col=args.duration_col,
                          time_col=args.time_col, seen=args.seen, annotator_field=args.annotator_field)
    except InputError as exc:  # every row quarantined: write them, so the user sees why, then stop
        quarantine = getattr(exc, "quarantine", None)
        if quarantine is None or quarantine.height == 0:
            raise
        path = _write_quarantine(quarantine, args, quiet=True)  # the error stays the one line on stderr
        raise InputError(f"{exc}; the quarantined rows are in {path}") from None
    log(f"read {data.source}: {data.n_boxes} boxes on {data.n_images} images by {data.n_workers} annotators, "
        f"{len(data.classes)} classes, format {data.box_format}{' (normalised)' if data.normalized else ''}")
    log(data.accounting_line() + (f" ({data.n_boxes} boxes + {data.n_empty} empty annotations)"
                                  if data.n_empty else ""))
    _write_quarantine(data.quarantine, args)
    result = model.fit(data)
    for line in result.summary_lines():
        log(line)
    write_table(result.boxes, args.output)
    if args.output and args.output != "-":
        log(f"wrote {args.output} ({result.boxes.height} consensus boxes)")
    for path, table, what in ((args.images_out, result.images, "images"),
                              (args.workers_out, result.workers, "annotators"),
                              (args.flags_out, result.box_flags, "flagged boxes")):
        if path:
            write_table(table, path)
            if path != "-":
                log(f"wrote {path} ({table.height} {what})")
    return 0


def _write_quarantine(q, args: argparse.Namespace, quiet: bool = False) -> str | None:  # noqa: ANN001
    """Write the quarantine (a polars frame, or None) where the options say; the path written, if any."""
    import polars as pl

    from consensus.io.writers import write_table

    if q is None or q.height == 0:
        return None
    if not quiet:
        log_reasons(q, log)
    path = _quarantine_path(args)
    frame = q.with_columns(pl.col(c).cast(pl.String) for c in q.columns if q.schema[c] == pl.Null)
    write_table(frame, path)
    if not quiet:
        log(f"quarantined rows written to {path}")
    return path


def register(sub: argparse._SubParsersAction) -> None:
    cmd = sub.add_parser(
        "boxes", help="consensus bounding boxes, agreement, annotator localisation quality, box flags",
        description="Match the boxes several annotators drew on each image into objects (IoU >= --iou, "
        "one box per annotator per object), fuse each object into a reliability-weighted consensus box with "
        "a confidence (weighted share of the annotators who saw the image that drew it), and report agreement "
        "and a recommendation per image, quality per annotator and flagged boxes (split, merged, degenerate, "
        "out of image, whole image, drawn implausibly fast).")
    cmd.add_argument("input", nargs="+", help="box file(s) or a quoted glob: CSV, TSV, Parquet, JSONL, "
                     "COCO JSON with an annotator field, or a Label Studio JSON export")
    cols = cmd.add_argument_group("columns (detected from common names when omitted)")
    cols.add_argument("--image-col", help="image id column (e.g. image, image_id, file_name)")
    cols.add_argument("--worker-col", help="annotator id column (e.g. worker, annotator, completed_by)")
    cols.add_argument("--label-col", help="class column (e.g. label, class, category); default: one class 'object'")
    cols.add_argument("--coords", metavar="A,B,C,D",
                      help="the four coordinate columns in --box-format order (default: x0,y0,x1,y1 / "
                      "xmin,ymin,xmax,ymax / x,y,w,h / x,y,width,height ...)")
    cols.add_argument("--box-format", choices=("auto", "xyxy", "xywh"), default="auto",
                      help="xyxy corners or xywh top-left corner + size (default: from the column names)")
    cols.add_argument("--units", choices=("auto", "pixels", "normalized"), default="auto",
                      help="pixel or normalised [0, 1] coordinates (default auto: normalised when every "
                      "coordinate is in [-0.5, 1.5])")
    cols.add_argument("--width-col", help="image width column (enables the out-of-image and whole-image checks)")
    cols.add_argument("--height-col", help="image height column")
    cols.add_argument("--duration-col", help="seconds spent drawing each box")
    cols.add_argument("--time-col", help="when each box was drawn (epoch s or ms, or a datetime): seconds per "
                      "box are the gaps between an annotator's consecutive boxes on an image")
    cols.add_argument("--annotator-field", help="COCO: the annotation field naming the annotator")
    cols.add_argument("--seen", metavar="FILE", help="table of every (image, annotator) pair shown, so "
                      "annotators who drew nothing count (rows with empty coordinates in INPUT do the same)")
    model = cmd.add_argument_group("model")
    model.add_argument("--iou", type=float, default=0.5, help="IoU threshold for matching (default 0.5)")
    model.add_argument("--class-agnostic", action="store_true",
                       help="match boxes of different classes; the class is a weighted vote")
    model.add_argument("--fusion", choices=("median", "mean"), default="median",
                       help="reliability-weighted coordinate median or mean (default median)")
    model.add_argument("--min-confidence", type=float, default=0.5,
                       help="keep objects drawn by this weighted share of the annotators who saw the image "
                       "(default 0.5)")
    model.add_argument("--keep-all", action="store_true", help="output every candidate object, with a kept column")
    model.add_argument("--min-evidence", type=int, default=10,
                       help="least evidence behind an annotator flag (default 10): shared matched boxes for "
                       "low_iou/loose/tight, expected objects for low_recall, drawn boxes for the others")
    model.add_argument("--max-doubt", type=float, default=0.1,
                       help="an object is uncertain when the posterior probability that its kept/dropped "
                       "decision is wrong exceeds this; an image is accepted when none is (default 0.1)")
    model.add_argument("--min-explained", type=float, default=0.5,
                       help="least share of an image's boxes in kept objects for it to be accepted (default 0.5)")
    model.add_argument("--review-after", type=int, default=5,
                       help="annotators from which an image that is not accepted goes to expert review instead "
                       "of needing more annotators (default 5)")
    model.add_argument("--fast-seconds", type=float,
                       help="flag boxes drawn faster (default: learned from the timings)")
    out = cmd.add_argument_group("output (format from the extension: .csv .tsv .parquet .json .jsonl)")
    out.add_argument("-o", "--output", metavar="FILE", help="consensus boxes (default: CSV on stdout)")
    out.add_argument("--images-out", metavar="FILE", help="per-image agreement and recommendation")
    out.add_argument("--workers-out", metavar="FILE", help="per-annotator quality and flags")
    out.add_argument("--flags-out", metavar="FILE", help="flagged boxes with their flags")
    out.add_argument("--quarantine-out", metavar="FILE",
                     help="unused rows with their reason (default: the output's name with .quarantine.csv; "
                     "consensus_boxes.quarantine.csv when the output goes to stdout)")
    cmd.set_defaults(handler=run)


def _quarantine_path(args: argparse.Namespace) -> str:
    return quarantine_path(args, args.output, stdout_name="consensus_boxes")
