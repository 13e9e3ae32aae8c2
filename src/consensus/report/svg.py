"""Small inline-SVG plots for the HTML report (no plotting library, no network).

Every function returns one ``<svg>`` element as a string. Text that may come
from a vendor (class names, ids) is escaped here, so callers pass raw strings.
Sizes are in CSS pixels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from consensus.report.escaping import escape

WIDTH = 480
HEIGHT = 240
MARGIN_LEFT = 56
MARGIN_RIGHT = 16
MARGIN_TOP = 16
MARGIN_BOTTOM = 44
BAR = "#4c78a8"
ACCENT = "#e45756"
GRID = "#dddddd"


def _open(width: int, height: int, title: str) -> list[str]:
    return [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
            f"<title>{escape(title)}</title>"]


def _text(x: float, y: float, text: str, *, anchor: str = "middle", size: int = 11,
          rotate: float | None = None, color: str = "#333") -> str:
    transform = f' transform="rotate({rotate:.0f} {x:.1f} {y:.1f})"' if rotate is not None else ""
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
            f'fill="{color}"{transform}>{escape(text)}</text>')


def _nice_ticks(low: float, high: float, count: int = 5) -> np.ndarray:
    """Round tick positions covering [low, high]."""
    if not math.isfinite(low) or not math.isfinite(high) or high <= low:
        return np.array([low])
    raw = (high - low) / count
    magnitude = 10.0 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    start = math.ceil(low / step) * step
    return np.arange(start, high + step * 1e-9, step)


def _fmt_tick(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:g}" if abs(value) >= 0.01 else f"{value:.0e}"


class _Axes:
    """Linear x and y scales inside the plot margins."""

    def __init__(self, x_range: tuple[float, float], y_range: tuple[float, float],
                 width: int = WIDTH, height: int = HEIGHT) -> None:
        self.x0, self.x1 = x_range
        self.y0, self.y1 = y_range
        if self.x1 <= self.x0:
            self.x1 = self.x0 + 1.0
        if self.y1 <= self.y0:
            self.y1 = self.y0 + 1.0
        self.left, self.right = MARGIN_LEFT, width - MARGIN_RIGHT
        self.top, self.bottom = MARGIN_TOP, height - MARGIN_BOTTOM

    def x(self, value: float) -> float:
        return self.left + (value - self.x0) / (self.x1 - self.x0) * (self.right - self.left)

    def y(self, value: float) -> float:
        return self.bottom - (value - self.y0) / (self.y1 - self.y0) * (self.bottom - self.top)

    def frame(self, x_label: str, y_label: str, *, x_ticks: Sequence[float] | None = None,
              x_tick_labels: Sequence[str] | None = None) -> list[str]:
        parts = []
        for tick in _nice_ticks(self.y0, self.y1):
            y = self.y(tick)
            parts.append(f'<line x1="{self.left}" x2="{self.right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>')
            parts.append(_text(self.left - 6, y + 4, _fmt_tick(float(tick)), anchor="end", size=10))
        ticks = _nice_ticks(self.x0, self.x1) if x_ticks is None else np.asarray(x_ticks, dtype=float)
        labels = [_fmt_tick(float(t)) for t in ticks] if x_tick_labels is None else list(x_tick_labels)
        for tick, label in zip(ticks, labels, strict=True):
            x = self.x(float(tick))
            parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{self.bottom}" y2="{self.bottom + 4}" stroke="#555"/>')
            parts.append(_text(x, self.bottom + 16, label, size=10))
        parts.append(f'<line x1="{self.left}" x2="{self.right}" y1="{self.bottom}" y2="{self.bottom}" stroke="#555"/>')
        parts.append(f'<line x1="{self.left}" x2="{self.left}" y1="{self.top}" y2="{self.bottom}" stroke="#555"/>')
        parts.append(_text((self.left + self.right) / 2, self.bottom + 34, x_label))
        parts.append(_text(14, (self.top + self.bottom) / 2, y_label, rotate=-90))
        return parts


def histogram(values: np.ndarray, *, bins: int | np.ndarray = 30, title: str, x_label: str,
              y_label: str = "count", markers: Sequence[tuple[float, str]] = (), log_x: bool = False,
              width: int = WIDTH, height: int = HEIGHT) -> str:
    """Histogram of finite ``values``; ``markers`` are vertical lines ``(x, label)``.

    With ``log_x`` the bins are equal in log10(x) (values must be > 0) and the
    x axis is labelled in original units.
    """
    data = np.asarray(values, dtype=np.float64)
    data = data[np.isfinite(data)]
    if log_x:
        data = data[data > 0]
    parts = _open(width, height, title)
    if data.size == 0:
        parts.append(_text(width / 2, height / 2, "no data"))
        return "".join(parts + ["</svg>"])
    shown = np.log10(data) if log_x else data
    mark_x = [(math.log10(x) if log_x else x, label) for x, label in markers if (x > 0 or not log_x)]
    low = min([float(shown.min())] + [m for m, _ in mark_x])
    high = max([float(shown.max())] + [m for m, _ in mark_x])
    if high <= low:
        low, high = low - 0.5, high + 0.5
    counts, edges = np.histogram(shown, bins=bins, range=(low, high))
    axes = _Axes((float(edges[0]), float(edges[-1])), (0.0, float(counts.max()) * 1.08), width, height)
    if log_x:
        ticks = _log_ticks(float(edges[0]), float(edges[-1]))
        parts += axes.frame(x_label, y_label, x_ticks=ticks, x_tick_labels=[_fmt_tick(10.0 ** t) for t in ticks])
    else:
        parts += axes.frame(x_label, y_label)
    for count, left, right in zip(counts, edges[:-1], edges[1:], strict=True):
        if count == 0:
            continue
        x, y = axes.x(left), axes.y(count)
        parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(axes.x(right) - x - 1, 0.5):.1f}" '
                     f'height="{axes.bottom - y:.1f}" fill="{BAR}"><title>{_fmt_tick(float(left))}..'
                     f'{_fmt_tick(float(right))}: {int(count)}</title></rect>')
    for x_value, label in mark_x:
        x = axes.x(x_value)
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{axes.top}" y2="{axes.bottom}" stroke="{ACCENT}" '
                     'stroke-width="2" stroke-dasharray="5 3"/>')
        parts.append(_text(x + 4, axes.top + 10, label, anchor="start", color=ACCENT))
    return "".join(parts + ["</svg>"])


def bars(labels: Sequence[str], values: Sequence[float], *, title: str, x_label: str,
         y_label: str = "count", width: int = WIDTH, height: int = HEIGHT,
         colors: Sequence[str] | None = None) -> str:
    """Vertical bars, one per label (categories in the given order)."""
    parts = _open(width, height, title)
    n = len(values)
    if n == 0:
        parts.append(_text(width / 2, height / 2, "no data"))
        return "".join(parts + ["</svg>"])
    top = max(float(max(values)), 1e-12) * 1.1
    axes = _Axes((0.0, float(n)), (0.0, top), width, height)
    positions = np.arange(n) + 0.5
    parts += axes.frame(x_label, y_label, x_ticks=positions, x_tick_labels=[str(x) for x in labels])
    slot = (axes.right - axes.left) / n
    for k, value in enumerate(values):
        x = axes.left + k * slot + slot * 0.15
        y = axes.y(float(value))
        color = colors[k] if colors is not None else BAR
        parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" height="{axes.bottom - y:.1f}" '
                     f'fill="{color}"><title>{escape(str(labels[k]))}: {_fmt_tick(float(value))}</title></rect>')
        parts.append(_text(x + slot * 0.35, y - 3, _fmt_tick(float(value)), size=10))
    return "".join(parts + ["</svg>"])


def heatmap(matrix: np.ndarray, row_labels: Sequence[str], col_labels: Sequence[str], *, title: str,
            row_title: str, col_title: str, cell: int = 44) -> str:
    """A matrix of shares in [0, 1] as shaded cells with the value written in each."""
    values = np.asarray(matrix, dtype=np.float64)
    n_rows, n_cols = values.shape
    label_space = 110
    width = label_space + n_cols * cell + 20
    height = label_space + n_rows * cell + 10
    parts = _open(width, height, title)
    parts.append(_text(label_space + n_cols * cell / 2, 14, col_title))
    parts.append(_text(14, label_space + n_rows * cell / 2, row_title, rotate=-90))
    short_cols, short_rows = _short_distinct(list(col_labels)), _short_distinct(list(row_labels))
    for c, _name in enumerate(col_labels):
        x = label_space + c * cell + cell / 2
        parts.append(_text(x, label_space - 8, short_cols[c], anchor="start", rotate=-45, size=10))
    for r, name in enumerate(row_labels):
        y = label_space + r * cell
        parts.append(_text(label_space - 6, y + cell / 2 + 4, short_rows[r], anchor="end", size=10))
        for c in range(n_cols):
            value = values[r, c]
            shade = 0.0 if not np.isfinite(value) else float(np.clip(value, 0.0, 1.0))
            fill = f"rgb({int(255 - 179 * shade)},{int(255 - 135 * shade)},{int(255 - 87 * shade)})"
            x = label_space + c * cell
            tip = f"{value:.3f}" if np.isfinite(value) else "no data"
            parts.append(f'<rect x="{x}" y="{y}" width="{cell - 1}" height="{cell - 1}" fill="{fill}">'
                         f"<title>{escape(str(row_labels[r]))} -> {escape(str(col_labels[c]))}: "
                         f"{tip}</title></rect>")
            text_color = "#fff" if shade > 0.55 else "#222"
            shown = "" if not np.isfinite(value) else f"{value:.2f}"
            parts.append(_text(x + cell / 2, y + cell / 2 + 4, shown, size=10, color=text_color))
    return "".join(parts + ["</svg>"])


def calibration_plot(confidence: np.ndarray, correct: np.ndarray, *, title: str, bins: int = 10,
                     width: int = 360, height: int = 300) -> str:
    """Reliability diagram: accuracy per confidence bin against the diagonal.

    Circles are drawn at (mean confidence, accuracy) of each non-empty bin of
    equal width on [0, 1]; their area grows with the bin's count.
    """
    conf = np.asarray(confidence, dtype=np.float64)
    hit = np.asarray(correct, dtype=np.float64)
    keep = np.isfinite(conf)
    conf, hit = conf[keep], hit[keep]
    parts = _open(width, height, title)
    axes = _Axes((0.0, 1.0), (0.0, 1.0), width, height)
    parts += axes.frame("confidence", "accuracy on gold")
    parts.append(f'<line x1="{axes.x(0):.1f}" y1="{axes.y(0):.1f}" x2="{axes.x(1):.1f}" y2="{axes.y(1):.1f}" '
                 'stroke="#999" stroke-dasharray="4 3"/>')
    if conf.size == 0:
        return "".join(parts + ["</svg>"])
    index = np.minimum((conf * bins).astype(np.int64), bins - 1)
    counts = np.bincount(index, minlength=bins)
    mean_conf = np.bincount(index, weights=conf, minlength=bins)
    accuracy = np.bincount(index, weights=hit, minlength=bins)
    points = []
    for b in np.flatnonzero(counts):
        x, y = axes.x(mean_conf[b] / counts[b]), axes.y(accuracy[b] / counts[b])
        radius = 2.5 + 9.0 * math.sqrt(counts[b] / counts.max())
        points.append((x, y))
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{radius:.1f}" fill="{BAR}" fill-opacity="0.7">'
                     f"<title>confidence {mean_conf[b] / counts[b]:.3f}, accuracy {accuracy[b] / counts[b]:.3f}, "
                     f"{int(counts[b])} rows</title></circle>")
    parts.append('<polyline fill="none" stroke="' + BAR + '" points="'
                 + " ".join(f"{x:.1f},{y:.1f}" for x, y in points) + '"/>')
    return "".join(parts + ["</svg>"])


def line_plot(x: np.ndarray, series: Sequence[tuple[str, np.ndarray]], *, title: str, x_label: str,
              y_label: str, markers: Sequence[tuple[float, str]] = (), y_range: tuple[float, float] | None = None,
              width: int = WIDTH, height: int = HEIGHT) -> str:
    """One or more lines over a shared x; ``markers`` are vertical lines."""
    xs = np.asarray(x, dtype=np.float64)
    parts = _open(width, height, title)
    if xs.size == 0:
        parts.append(_text(width / 2, height / 2, "no data"))
        return "".join(parts + ["</svg>"])
    ys = [np.asarray(v, dtype=np.float64) for _, v in series]
    if y_range is None:
        finite = np.concatenate([v[np.isfinite(v)] for v in ys])
        y_range = (min(0.0, float(finite.min())) if finite.size else 0.0,
                   float(finite.max()) * 1.05 if finite.size else 1.0)
    axes = _Axes((float(xs.min()), float(xs.max())), y_range, width, height)
    parts += axes.frame(x_label, y_label)
    palette = (BAR, ACCENT, "#54a24b", "#b279a2")
    for k, ((name, _), values) in enumerate(zip(series, ys, strict=True)):
        color = palette[k % len(palette)]
        keep = np.isfinite(values)
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="'
                     + " ".join(f"{axes.x(a):.1f},{axes.y(b):.1f}" for a, b in zip(xs[keep], values[keep],
                                                                                   strict=True)) + '"/>')
        parts.append(_text(axes.right - 4, axes.top + 12 + 14 * k, name, anchor="end", color=color))
    for x_value, label in markers:
        xm = axes.x(x_value)
        parts.append(f'<line x1="{xm:.1f}" x2="{xm:.1f}" y1="{axes.top}" y2="{axes.bottom}" stroke="#555" '
                     'stroke-dasharray="5 3"/>')
        parts.append(_text(xm + 4, axes.bottom - 6, label, anchor="start", size=10))
    return "".join(parts + ["</svg>"])


def _log_ticks(low: float, high: float) -> np.ndarray:
    """log10 positions of ticks between ``low`` and ``high`` (log10 units).

    Powers of ten; where fewer than two fall in the range (12-60 s), the 1-2-5 steps
    within it, so the axis is never left without labels.
    """
    powers = np.arange(math.floor(low), math.ceil(high) + 1, dtype=np.float64)
    ticks = powers[(powers >= low) & (powers <= high)]
    if ticks.size >= 2:
        return ticks
    steps = np.log10(np.outer(10.0 ** powers, [1.0, 2.0, 5.0]).ravel())
    ticks = steps[(steps >= low - 1e-12) & (steps <= high + 1e-12)]
    return ticks if ticks.size else np.array([low, high])


def _short(name: str, limit: int = 16) -> str:
    text = str(name)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _short_distinct(names: Sequence[str], limit: int = 16) -> list[str]:
    """Names cut to ``limit`` characters, keeping both ends where cutting the tail makes two alike."""
    short = [_short(n, limit) for n in names]
    if len(set(short)) == len(short):
        return short
    head = (limit - 1) // 2
    tail = limit - 1 - head
    both = [str(n) if len(str(n)) <= limit else f"{str(n)[:head]}…{str(n)[-tail:]}" for n in names]
    if len(set(both)) == len(both):
        return both
    return [f"{k + 1}: {label}" for k, label in enumerate(short)]  # still alike: numbered in class order
