"""The audit report: one self-contained HTML file a person reads.

Verdict first, then annotators, confusion, timings, fraud, boxes, calibration,
redundancy, and what the instructions should define better. Every string that
comes from the delivery (ids, labels, file names, flags) goes through
:func:`html.escape`; plots are inline SVG; the page loads nothing from the
network (a Content-Security-Policy forbids it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import polars as pl

from consensus._version import __version__
from consensus.fraud.speed import LOG_FLOOR_SECONDS
from consensus.report import svg
from consensus.io.judgments import reason_kind
from consensus.report.escaping import escape

MAX_ROWS = 50

VERDICT_TEXT = {
    "supported": ("supported", "The data support the claim."),
    "not_supported": ("not supported", "The data neither confirm nor refute the claim: too little evidence."),
    "refuted": ("refuted", "The data refute the claim."),
}

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#222;background:#fafafa}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{margin:0 0 4px 0;font-size:26px} h2{margin-top:36px;border-bottom:2px solid #ddd;padding-bottom:4px}
.sub{color:#666;margin:0 0 16px 0}
.verdict{border-radius:8px;padding:16px 20px;margin:16px 0;border:2px solid}
.verdict.supported{background:#eaf6ec;border-color:#54a24b}
.verdict.not_supported{background:#fff7e6;border-color:#f2a93b}
.verdict.refuted{background:#fdecec;border-color:#e45756}
.verdict.none{background:#eef2f7;border-color:#4c78a8}
.verdict .big{font-size:24px;font-weight:700}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:12px 0}
.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:10px 14px;min-width:140px}
.card .v{font-size:20px;font-weight:600} .card .k{color:#666;font-size:12px}
table{border-collapse:collapse;background:#fff;font-size:13px;margin:8px 0} .tw{max-width:100%;overflow-x:auto}
td{overflow-wrap:break-word;max-width:420px} td.n{white-space:nowrap} .note{overflow-wrap:anywhere}
figure{max-width:100%;overflow-x:auto}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f0f0f0;cursor:pointer;user-select:none} td.n{text-align:right;font-variant-numeric:tabular-nums}
.plots{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}
figure{margin:0;background:#fff;border:1px solid #ddd;border-radius:6px;padding:8px}
figcaption{font-size:12px;color:#555;max-width:480px}
.note{color:#555;font-size:13px} .flag{display:inline-block;background:#fdecec;border-radius:3px;padding:0 4px;
margin:1px;font-size:12px} code{background:#f0f0f0;padding:0 3px;border-radius:3px}
nav a{margin-right:12px;font-size:13px}
"""

# Sortable tables (click a header); marks the page as rendered for the browser test.
SCRIPT = """
(function(){
  function key(cell){var t=cell.getAttribute('data-v');if(t===null)t=cell.textContent;
    var x=parseFloat(t);return isNaN(x)?t.toLowerCase():x;}
  document.querySelectorAll('table.sortable').forEach(function(table){
    table.querySelectorAll('th').forEach(function(th,col){
      th.addEventListener('click',function(){
        var body=table.tBodies[0];var rows=Array.prototype.slice.call(body.rows);
        var asc=th.getAttribute('data-order')!=='asc';th.setAttribute('data-order',asc?'asc':'desc');
        rows.sort(function(a,b){var x=key(a.cells[col]),y=key(b.cells[col]);
          if(x===y)return 0;var r=(typeof x===typeof y)?(x<y?-1:1):(typeof x==='number'?-1:1);return asc?r:-r;});
        rows.forEach(function(r){body.appendChild(r);});
      });
    });
  });
  document.documentElement.setAttribute('data-report-ready','1');
})();
"""


def render_report(result: Any) -> str:
    """The report of an :class:`~consensus.audit.run.AuditResult` as one HTML document."""
    s = result.summary
    sections: list[tuple[str, str, str]] = [
        ("verdict", "Verdict on the claim", _verdict(result)),
        ("overview", "Delivery at a glance", _overview(result)),
        ("annotators", "Annotator reliability", _annotators(result)),
        ("confusion", "Confusion between classes", _confusion(result)),
        ("timing", "Time per judgment", _timing(result)),
        ("fraud", "Fraud and speed flags", _fraud(result)),
    ]
    if result.boxes is not None:
        sections.append(("boxes", "Bounding boxes", _boxes(result)))
    sections += [
        ("calibration", "Calibration of the confidence", _calibration(result)),
        ("redundancy", "Redundancy advice", _redundancy(result)),
        ("instructions", "What the instructions should define better", _instructions(result)),
        ("data", "Rows used and quarantined", _data(result)),
    ]
    nav = "".join(f'<a href="#{key}">{escape(title)}</a>' for key, title, _ in sections)
    body = "".join(f'<section id="{key}"><h2>{escape(title)}</h2>{html}</section>' for key, title, html in sections)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
        "script-src 'unsafe-inline'; img-src data:\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>Audit of {escape(_short_source(s['source']))}</title><style>{CSS}</style></head><body><main>"
        f"<h1>Audit of a labeling delivery</h1><p class=\"sub\">{escape(str(s['source']))} &middot; "
        f"consensus {escape(__version__)}</p><nav>{nav}</nav>{body}"
        "<p class=\"note\">Every figure here is also in <code>summary.json</code> and the tables in "
        "<code>tables/</code> next to this file.</p>"
        f"</main><script>{SCRIPT}</script></body></html>\n"
    )


# --- helpers ------------------------------------------------------------------------
def _short_source(source: str) -> str:
    text = str(source)
    return text if len(text) <= 80 else text[:77] + "..."


def _pct(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "n/a"
    return f"{100.0 * float(value):.{digits}f}%"


def _pct_exact(value: Any) -> str:
    """A percentage with as many decimals as it needs (up to 4): 96%, 99.95%, not 100.0% for 0.9995."""
    if value is None or not np.isfinite(float(value)):
        return "n/a"
    return f"{100.0 * float(value):.4f}".rstrip("0").rstrip(".") + "%"


def _p(value: Any) -> str:
    """A p- or q-value: 4 decimals, or 3 significant digits below 0.001 (1.08e-05, not 0.0000).

    An exact 0 is a probability too small for a float (below about 1e-308): shown as such, not as 0.
    """
    if isinstance(value, (float, np.floating)) and np.isfinite(value) and 0.0 <= float(value) < 1e-3:
        return f"{float(value):.3g}" if float(value) > 0.0 else "< 1e-300"
    return _num(value, 4)


def _num(value: Any, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        return "n/a" if not np.isfinite(value) else f"{float(value):.{digits}f}"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def _cards(pairs: Sequence[tuple[str, str]]) -> str:
    return '<div class="cards">' + "".join(
        f'<div class="card"><div class="v">{escape(v)}</div><div class="k">{escape(k)}</div></div>'
        for k, v in pairs) + "</div>"


def _figure(svg_text: str, caption: str) -> str:
    return f"<figure>{svg_text}<figcaption>{escape(caption)}</figcaption></figure>"


Column = tuple[str, str, Callable[[Any], str]]


def _table(frame: pl.DataFrame, columns: Sequence[Column], *, max_rows: int = MAX_ROWS,
           what: str = "rows") -> str:
    """An HTML table of ``frame``'s first ``max_rows`` rows; every cell escaped."""
    present = [c for c in columns if c[0] in frame.columns]
    head = "".join(f"<th>{escape(title)}</th>" for _, title, _ in present)
    rows = []
    for row in frame.head(max_rows).iter_rows(named=True):
        cells = []
        for name, _, fmt in present:
            value = row[name]
            numeric = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
            data_v = f' data-v="{float(value)!r}"' if numeric and np.isfinite(float(value)) else ""
            cells.append(f'<td{" class=n" if numeric else ""}{data_v}>{escape(fmt(value))}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    more = (f'<p class="note">First {max_rows} of {frame.height:,} {escape(what)}; all are in the tables.</p>'
            if frame.height > max_rows else "")
    return (f'<div class="tw"><table class="sortable"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody>'
            f"</table></div>{more}")


def _flags_cell(value: Any) -> str:
    return ", ".join(str(v) for v in value) if value else ""


# --- sections ---------------------------------------------------------------------------
def _verdict(result: Any) -> str:
    s = result.summary
    claim = result.claim
    if claim is None:
        agg = s["aggregation"]
        return (f'<div class="verdict none"><div class="big">No claim given</div><p>Pass '
                "<code>--claimed-accuracy</code> to test a vendor's figure. The model estimates the accuracy of "
                f"the delivered row labels at {escape(_pct(agg['estimated_accuracy']))} (mean posterior "
                "probability of each row's label over the rows without gold; an estimate, not a measurement).</p></div>")
    word, meaning = VERDICT_TEXT.get(claim.verdict, (claim.verdict, ""))
    cs = claim.summary
    estimate = " (a model-based ESTIMATE: no gold was given)" if cs.get("is_estimate") else ""
    overlap = _overlap_note(result) if cs.get("is_estimate") else ""
    table = _table(claim.overall, [
        ("level", "level", str), ("basis", "basis", str), ("n", "n", _num), ("correct", "correct", _num),
        ("accuracy", "accuracy", _pct), ("lower", "lower", _pct), ("upper", "upper", _pct),
        ("cp_lower", "Clopper-Pearson lower", _pct), ("cp_upper", "Clopper-Pearson upper", _pct),
        ("p_value", "p (accuracy >= claim)", _p), ("verdict", "verdict", str)])
    counts = cs.get("counts") or {}
    unlabelled = counts.get("gold_rows_without_label") or 0
    scored = (f"<p class=\"note\">{unlabelled:,} gold-checked row{'s' if unlabelled != 1 else ''} had no label "
              "(every answer n/a or missing) and count as wrong at the row level.</p>") if unlabelled else ""
    return (f'<div class="verdict {escape(claim.verdict)}"><div class="big">Claim of '
            f"{escape(_pct_exact(s['claimed_accuracy']))} accuracy: {escape(word)}"
            f"{' (estimate, no gold)' if cs.get('is_estimate') else ''}</div>"
            f"<p>{escape(meaning)}{escape(estimate)}</p><p>{escape(claim.message)}</p>{scored}{overlap}</div>{table}"
            + _by_class(claim))


def _by_class(claim: Any) -> str:
    if claim.by_class is None:
        return ""
    return "<h3>Accuracy by gold class</h3>" + _table(claim.by_class, [
        (c, c, _pct if c in ("accuracy", "lower", "upper") else _num) for c in claim.by_class.columns
        if c in ("level", "class", "n", "correct", "accuracy", "lower", "upper", "below_claim")])


def _overview(result: Any) -> str:
    s = result.summary
    agg = s["aggregation"]
    agr = s["agreement"]
    cards = [
        ("input rows", _num(s["rows"]["input"])), ("used", _num(s["rows"]["used"])),
        ("quarantined", _num(s["rows"]["quarantined"])), ("items", _num(s["n_items"])),
        ("annotators", _num(s["n_workers"])), ("labels per item", _num(s["labels_per_item"], 2)),
        ("model", f"{agg['method']} -> {agg['chosen']}"), ("mean confidence (rows without gold)", _pct(agg["mean_confidence"])),
        ("Krippendorff's alpha", _num(agr.get("krippendorff_alpha"))), ("Fleiss' kappa", _num(agr.get("fleiss_kappa"))),
    ]
    if s.get("fraud") is not None:
        cards.append(("annotators flagged", _num(s["fraud"]["n_flagged"])))
    classes = ", ".join(str(c) for c in s["classes"])
    return _cards(cards) + f'<p class="note">Classes: {escape(classes)}.</p>'


def _overlap_note(result: Any) -> str:
    """A warning when no item has two class answers: agreement then says nothing of anyone's accuracy."""
    j = result.judgments
    answered = j.label >= 0
    if j.n_items and np.bincount(j.item[answered], minlength=j.n_items).max(initial=0) >= 2:
        return ""
    return ('<p class="note"><strong>No item has two answers</strong> (one annotator, or no overlap between '
            "annotators), so nobody's answers can be checked against anyone else's: without gold, every "
            "annotator accuracy, confusion matrix and estimate below comes from the model's prior, not from the "
            "data.</p>")


def _annotators(result: Any) -> str:
    workers = result.workers
    enough = workers.filter(pl.col("evidence") == "enough")
    accuracy = enough["accuracy"].to_numpy().astype(np.float64) if enough.height else np.zeros(0)
    plot = _figure(svg.histogram(accuracy, bins=20, title="estimated annotator accuracy",
                                 x_label="estimated accuracy", y_label="annotators"),
                   f"Estimated accuracy of the {enough.height} annotators with enough evidence "
                   f"({workers.height - enough.height} have too few judgments to be judged).")
    spam = enough["spammer_score"].to_numpy().astype(np.float64) if enough.height else np.zeros(0)
    plot2 = _figure(svg.histogram(spam, bins=20, title="spammer score", x_label="spammer score (1 = answers "
                                  "ignore the truth)", y_label="annotators"),
                    "How close each annotator's confusion matrix is to rank one (answers independent of the truth).")
    columns: list[Column] = [
        ("rank", "rank", _num), ("worker", "annotator", str), ("n_judgments", "judgments", _num),
        ("accuracy", "accuracy", _pct), ("accuracy_lower", "95% lower", _pct), ("accuracy_upper", "95% upper", _pct),
        ("spammer_score", "spammer score", _num), ("evidence", "evidence", str), ("flags", "fraud flags", _flags_cell),
    ]
    least = workers.filter(pl.col("evidence") == "enough").sort(["accuracy_upper", "worker"], nulls_last=True)
    return (_overlap_note(result) + f'<div class="plots">{plot}{plot2}</div>'
            "<p class=\"note\">Ranked by the lower end of the 95% interval, so an annotator with few judgments is "
            "not ranked as if certain. Accuracy is agreement with the model's truth: an annotator who gives most "
            "answers to one class can rank high where that class dominates; read the spammer score and the "
            "fraud flags beside it. Least reliable first (by the upper end of the interval):</p>"
            + _table(least, columns, max_rows=25, what="annotators with enough evidence")
            + "<details><summary>All annotators, most reliable first</summary>"
            + _table(workers, columns, max_rows=500, what="annotators") + "</details>")


def _confusion(result: Any) -> str:
    classes = result.judgments.classes
    heat = svg.heatmap(result.pooled_confusion, classes, classes, title="pooled confusion",
                       row_title="true class", col_title="answer given")
    return _figure(heat, "Share of judgments of each true class (rows) given as each answer (columns), summed over "
                   "all annotators with the model's posterior as the truth.")


def _timing(result: Any) -> str:
    j = result.judgments
    if j.duration is None or not np.isfinite(j.duration).any():
        return '<p class="note">The delivery has no per-judgment durations, so no speed check was possible.</p>'
    duration = np.asarray(j.duration, dtype=np.float64)
    # a log axis has no 0: judgments of 0 s (the clearest speed fraud) are drawn at the fraud checks' own floor
    zero = np.isfinite(duration) & (duration < LOG_FLOOR_SECONDS)
    duration = np.where(zero, LOG_FLOOR_SECONDS, duration)
    zero_note = _zero_note(zero)
    markers = []
    floor = result.fraud.speed_floor if result.fraud is not None else None
    if floor is not None and np.isfinite(floor.seconds) and floor.seconds > 0:
        markers.append((float(floor.seconds), f"floor {floor.seconds:.3g} s"))
    plot = svg.histogram(duration, bins=40, title="seconds per judgment", x_label="seconds (log scale)",
                         y_label="judgments", markers=markers, log_x=True)
    caption = "Seconds per judgment." + (f" {floor.describe()}" if floor is not None else "") + zero_note
    parts = [_figure(plot, caption)]
    if result.fraud is not None:
        flagged = result.fraud.flagged_mask
        if flagged.any():
            mask = flagged[j.worker]
            parts.append(_figure(svg.histogram(duration[mask], bins=30, title="flagged annotators",
                                               x_label="seconds (log scale)", y_label="judgments",
                                               markers=markers, log_x=True),
                                 "Seconds per judgment of the flagged annotators only." + _zero_note(zero & mask)))
    return '<div class="plots">' + "".join(parts) + "</div>"


def _zero_note(zero: np.ndarray) -> str:
    """Caption text for judgments too short for a log axis (drawn at the fraud checks' floor)."""
    count = int(zero.sum())
    return (f" {count:,} judgment{'s' if count != 1 else ''} under {LOG_FLOOR_SECONDS:g} s (0 s included) "
            f"{'are' if count != 1 else 'is'} drawn at {LOG_FLOOR_SECONDS:g} s." if count else "")


def _fraud(result: Any) -> str:
    report = result.fraud
    if report is None:
        return '<p class="note">Fraud detection was not run.</p>'
    lines = "".join(f"<li>{escape(line)}</li>" for line in report.summary_lines())
    flagged = report.workers.filter(pl.col("flagged"))
    evidence_cols = [c for c in report.workers.columns if c.endswith("_p_value")]
    columns: list[Column] = [("worker", "annotator", str), ("n_judgments", "judgments", _num),
                             ("flags", "flags", _flags_cell), ("fraud_score", "fraud score", _num),
                             ("q_value", "q (FDR)", _p)]
    columns += [(c, c.removesuffix("_p_value") + " p", _p) for c in evidence_cols]
    table = _table(flagged, columns, what="flagged annotators") if flagged.height else \
        '<p class="note">No annotator flagged.</p>'
    gold = ""
    if report.gold_items is not None:
        contradicted = report.gold_items.filter(pl.col("contradicted"))
        if contradicted.height:
            gold = ("<h3>Gold items the crowd contradicts (check the gold itself)</h3><p class=\"note\">Fewer "
                    "than half of the answers give the gold answer, far fewer than the annotators' estimated "
                    "accuracies predict (q-value at most the FDR); the model's own label may still be the gold "
                    "one when the other answers split. These items are not used to judge anyone.</p>"
                    + _table(contradicted, [(c, c, _p if c in ("p_value", "q_value") else str if c == "item" else _num)
                                            for c in contradicted.columns]))
    return f"<ul class=\"note\">{lines}</ul>{table}{gold}"


def _boxes(result: Any) -> str:
    boxes = result.boxes
    summary = result.summary["boxes"]
    cards = [(k.replace("_", " "), _num(v)) for k, v in summary.items()
             if isinstance(v, (int, float)) and not isinstance(v, bool)]
    by_rec = summary.get("images_by_recommendation") or {}
    html = f"<p>{escape(boxes.accounting_line())}</p>" + _cards(cards)
    plots = []
    if "mean_iou" in boxes.images.columns:
        plots.append(_figure(svg.histogram(boxes.images["mean_iou"].to_numpy().astype(np.float64), bins=20,
                                           title="mean matched IoU", x_label="mean matched IoU per image",
                                           y_label="images"),
                             "Agreement per image: mean IoU of the boxes matched into one object."))
    if "f1" in boxes.images.columns:
        plots.append(_figure(svg.histogram(boxes.images["f1"].to_numpy().astype(np.float64), bins=20,
                                           title="F1 agreement", x_label="F1 agreement per image (unmatched = 0)",
                                           y_label="images"),
                             "F1-style agreement per image: boxes left unmatched count as 0."))
    if by_rec:
        plots.append(_figure(svg.bars(list(by_rec), list(by_rec.values()), title="recommendation per image",
                                      x_label="recommendation", y_label="images"), "What to do with each image."))
    html += '<div class="plots">' + "".join(plots) + "</div>"
    workers = boxes.workers
    html += "<h3>Annotators' boxes</h3>" + _table(workers, [(c, c.replace("_", " "), _num) for c in workers.columns],
                                                  max_rows=30, what="annotators")
    if boxes.box_flags.height:
        flags = boxes.box_flags
        html += "<h3>Flagged boxes</h3>" + _table(flags, [(c, c.replace("_", " "), _num) for c in flags.columns],
                                                  max_rows=30, what="flagged boxes")
    return html


def _calibration(result: Any) -> str:
    cal = result.calibration
    if cal is None:
        return ('<p class="note">No gold answers, so the confidence cannot be checked against the truth. The '
                "confidences are tempered by a gold-free leave-one-judgment-out fit.</p>")
    if cal["n"] == 0:
        return ('<p class="note">No gold item has a label to score (their answers are all n/a or missing), so '
                "the confidence cannot be checked against the truth.</p>")
    plot = svg.calibration_plot(cal["confidence"], cal["correct"], title="calibration on gold")
    return _figure(plot, f"Reliability diagram on {cal['n']} gold items of a fit that did not see the gold "
                   f"(10 bins): expected calibration error {cal['ece']:.3f}, accuracy {_pct(cal['accuracy'])}, "
                   f"mean confidence {_pct(cal['mean_confidence'])}. Points on the diagonal mean the confidence "
                   "can be thresholded as a probability.")


def _redundancy(result: Any) -> str:
    advice = result.advice
    if advice is None:
        return '<p class="note">Redundancy advice was not run.</p>'
    items = advice.items
    actions = items.group_by("action").len().sort("action")
    plot1 = svg.bars(actions["action"].to_list(), actions["len"].to_list(), title="action per row",
                     x_label="action", y_label="rows")
    extra = items.filter(pl.col("action") == "label_more")["extra_labels"]
    values = extra.to_numpy() if extra.len() else np.zeros(0)
    if values.size:
        ks, counts = np.unique(values, return_counts=True)
        plot2 = svg.bars([str(int(k)) for k in ks], counts.tolist(), title="extra labels asked",
                         x_label="extra labels asked for", y_label="rows")
    else:
        plot2 = svg.bars([], [], title="extra labels asked", x_label="extra labels", y_label="rows")
    summary = advice.summary()
    cards = [(k.replace("_", " "), _num(v, 2)) for k, v in summary.items()
             if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)]
    budget = _table(advice.budget, [(c, c.replace("_", " "), lambda v: _num(v, 2)) for c in advice.budget.columns])
    return (_cards(cards) + '<div class="plots">' + _figure(plot1, "What to do with each row.")
            + _figure(plot2, "Rows that need more labels, by how many.") + "</div><h3>Budget</h3>" + budget)


def _instructions(result: Any) -> str:
    pairs = result.confused_pairs
    disputed = result.disputed_items
    pair_table = _table(pairs, [("class_a", "class A", str), ("class_b", "class B", str),
                                ("a_as_b", "A answered as B", lambda v: _num(v, 1)),
                                ("b_as_a", "B answered as A", lambda v: _num(v, 1)),
                                ("share", "share of A+B judgments", _pct)]) if pairs.height else \
        '<p class="note">No class pair is confused.</p>'
    item_table = _table(disputed, [("item", "item", str), ("n_labels", "answers", _num), ("votes", "votes", str),
                                   ("label", "model's label", lambda v: "none (mostly n/a)" if v is None else str(v)),
                                   ("confidence", "confidence", _pct),
                                   ("disagreement", "disagreement", _num)]) if disputed.height else \
        '<p class="note">No item has split answers.</p>'
    return ('<p>The cases the labeling instructions should define better: the class pairs annotators confuse '
            "most (expected judgments under the model) and the items whose answers split most (normalised "
            f"entropy of the votes).</p><h3>Confused class pairs</h3>{pair_table}"
            f"<h3>Most disputed items</h3>{item_table}")


def _data(result: Any) -> str:
    j = result.judgments
    html = f"<p>{escape(j.accounting_line())}</p>"
    gold_line = j.gold_accounting_line()
    if gold_line:
        html += f"<p>{escape(gold_line)}</p>"
    parts = [q for q in (j.quarantine, j.gold_quarantine) if q is not None and q.height]
    if parts:
        quarantine = pl.concat(parts, how="diagonal_relaxed")
        reasons = quarantine.group_by(reason_kind(pl.col("reason"))).len() \
            .sort(["len", "reason"], descending=[True, False])
        html += _table(reasons, [("reason", "reason", str), ("len", "rows", _num)], what="reasons")
    return html
