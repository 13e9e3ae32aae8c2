"""``consensus audit``: every check on one delivery; report.html, summary.json and Parquet tables."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from consensus.commands.common import (add_input_options, check_outputs, log, parse_coords, read_from_args,
                                       report_accounting)
from consensus.commands.validate import fraction
from consensus.methods import METHODS

STEPS_BASE = ("read", "aggregate", "agreement", "instructions")


def run(args: argparse.Namespace) -> int:
    from consensus.audit import Progress, audit
    from consensus.errors import ParameterError

    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise ParameterError(f"cannot write the audit into {args.output!r}: it is a file; -o takes a folder")
    say = (lambda message: None) if args.quiet else log
    n_steps = len(STEPS_BASE) + (not args.no_fraud) + (args.claimed_accuracy is not None) \
        + (not args.no_redundancy) + (args.boxes is not None) + 1  # + calibration when gold
    from consensus.audit.run import check_options

    check_options(method=args.method, seed=args.seed, claimed_accuracy=args.claimed_accuracy,
                  claim_level=args.claim_level, confidence=args.confidence, margin=args.margin,
                  redundancy=not args.no_redundancy, target=args.target, max_labels=args.max_labels,
                  price_per_label=args.price_per_label)  # before reading: a bad option writes nothing
    box_coords = parse_coords(args.coords)  # before reading, as the other options
    # an input inside OUTDIR must not be replaced (or deleted as a stale quarantine file)
    check_outputs(args.quarantine_out or str(out / "quarantine.csv"), str(out / "summary.json"), args=args)
    progress = Progress(n_steps, enabled=not args.quiet)
    started = time.perf_counter()
    judgments = read_from_args(args)
    read_seconds = time.perf_counter() - started
    if args.quarantine_out is None:
        args.quarantine_out = str(out / "quarantine.csv")
        # a quarantine file left by an earlier audit into OUTDIR would describe another delivery
        Path(args.quarantine_out).unlink(missing_ok=True)
    report_accounting(judgments, args, None, quiet=args.quiet)  # the quarantine file is written even when quiet
    box_options = None
    if args.boxes is not None:
        box_options = {"box_format": args.box_format}
        if box_coords is not None:
            box_options["coord_cols"] = box_coords
    try:
        result = audit(judgments, claimed_accuracy=args.claimed_accuracy, claim_level=args.claim_level,
                       confidence=args.confidence, margin=args.margin, method=args.method,
                       fraud=not args.no_fraud, redundancy=not args.no_redundancy, target=args.target,
                       max_labels=args.max_labels, price_per_label=args.price_per_label, boxes=args.boxes,
                       box_options=box_options, seed=args.seed, progress=progress, log=None)
    finally:
        progress.close()
    written = result.write(out)
    s = result.summary
    if s["verdict"] is not None:
        basis = " (ESTIMATE, NO GOLD)" if s["verdict_basis"] == "estimate" else ""
        say(f"audit: claim {s['claimed_accuracy']:.2%}: {s['verdict'].upper()}{basis}: {result.claim.message}")
    else:
        say("audit: no --claimed-accuracy given, so no verdict; estimated accuracy of the row labels "
            + (f"{s['aggregation']['estimated_accuracy']:.2%}" if s["aggregation"]["estimated_accuracy"] is not None
               else "n/a"))
    if s["fraud"] is not None:
        names = ", ".join(s["fraud"]["flagged"][:10]) + (" ..." if s["fraud"]["n_flagged"] > 10 else "")
        say(f"audit: {s['fraud']['n_flagged']} of {s['n_workers']} annotators flagged"
            + (f" ({names})" if names else ""))
    if s["calibration"] is not None:
        ece = s["calibration"]["ece"]
        say("audit: calibration on gold (gold-free fit): "
            + (f"ECE {ece:.3f}" if ece is not None else "ECE n/a (no gold item has a label to score)"))
    if result.advice is not None:
        counts = result.advice.items.group_by("action").len().sort("action")
        say("audit: redundancy advice: " + ", ".join(f"{a} {n}" for a, n in counts.iter_rows()))
    if s["boxes"] is not None:
        b = s["boxes"]
        say(f"boxes {args.boxes}: {result.boxes.accounting_line()}")
        iou, f1 = (("n/a" if b[k] is None else f"{b[k]:.3f}") for k in ("mean_matched_iou", "f1_agreement"))
        say(f"audit: boxes: {b['n_boxes']} boxes on {b['n_images']} images -> {b['n_objects']} objects; mean "
            f"matched IoU {iou}, F1 agreement {f1}; images " + ", ".join(
                f"{k} {v}" for k, v in b["images_by_recommendation"].items()))
    timings = dict(result.timings)
    timings["read"] = timings.get("read", 0.0) + read_seconds  # the file was read here, before audit()
    say("audit: seconds per step: " + ", ".join(f"{k} {v:.2f}" for k, v in timings.items()))
    say(f"audit: wrote {written[0]} , {written[1]} and {len(written) - 2} tables in {out / 'tables'}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "audit", help="audit a delivery: labels, annotators, fraud, claim, redundancy, report.html",
        description="Run every check on one delivery: aggregation with annotator reliability, agreement, "
        "fraud and speed traps, the claimed accuracy (with gold: exact test and verdict; without: a flagged "
        "estimate), per-row redundancy advice, box agreement (with --boxes) and the cases the instructions "
        "should define better. Writes OUTDIR/report.html (self-contained), OUTDIR/summary.json (every "
        "headline figure; the claim's result under 'verdict') and OUTDIR/tables/*.parquet.")
    add_input_options(p, quarantine_default="OUTDIR/quarantine.csv")
    claim = p.add_argument_group("claim")
    claim.add_argument("--claimed-accuracy", type=fraction, metavar="A",
                       help="the vendor's claimed accuracy (e.g. 0.96 or 96%%); without it there is no verdict")
    claim.add_argument("--claim-level", choices=("row", "judgment"), default="row",
                       help="the claim is about delivered row labels (default) or individual judgments")
    claim.add_argument("--confidence", type=float, default=0.95, help="confidence of intervals and test (0.95)")
    claim.add_argument("--margin", type=fraction, default=0.02,
                       help="'supported' needs the lower bound within this of the claim (default 0.02)")
    model = p.add_argument_group("model")
    model.add_argument("--method", choices=METHODS, default="auto",
                       help="aggregation model (default auto)")
    model.add_argument("--seed", type=int, default=0, help="seed of tie-breaks, bootstrap, simulation (default 0)")
    model.add_argument("--no-fraud", action="store_true", help="skip the fraud detectors")
    red = p.add_argument_group("redundancy advice")
    red.add_argument("--no-redundancy", action="store_true", help="skip the redundancy advice")
    red.add_argument("--target", type=float, default=0.95, help="posterior each row should reach (default 0.95)")
    red.add_argument("--max-labels", type=int, default=7, help="most labels a row may get in total (default 7)")
    red.add_argument("--price-per-label", type=float, default=None, metavar="P",
                     help="price of one label, for the budget (default: counts only)")
    boxes = p.add_argument_group("boxes")
    boxes.add_argument("--boxes", metavar="FILE", help="bounding boxes of the delivery (image, annotator, "
                       "x0, y0, x1, y1, label; COCO or Label Studio JSON)")
    boxes.add_argument("--box-format", choices=("auto", "xyxy", "xywh"), default="auto",
                       help="coordinates of --boxes: corners or x, y, width, height (default: from the column "
                       "names, as consensus boxes)")
    boxes.add_argument("--coords", metavar="A,B,C,D",
                       help="the four coordinate columns of --boxes in --box-format order (default: detected)")
    out = p.add_argument_group("output")
    out.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="folder for the report and tables")
    out.add_argument("--quiet", action="store_true", help="no progress bar and no messages (errors only)")
    p.set_defaults(handler=run)
