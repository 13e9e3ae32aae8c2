"""Step progress for long audits: a bar on a terminal, silent otherwise."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO


class Progress:
    """Announce numbered steps on ``stream``.

    On a terminal (``stream.isatty()``) each step redraws one line with a bar,
    the step's name and the elapsed seconds; when ``enabled`` is False or the
    stream is not a terminal nothing is written. ``timings`` keeps the seconds
    each step took (always, so the summary can report them).
    """

    def __init__(self, n_steps: int, *, enabled: bool = True, stream: TextIO | None = None,
                 width: int = 24) -> None:
        self.stream = sys.stderr if stream is None else stream
        self.enabled = enabled and bool(getattr(self.stream, "isatty", lambda: False)())
        self.n_steps = max(int(n_steps), 1)
        self.width = width
        self.done = 0
        self.timings: dict[str, float] = {}
        self.started = time.perf_counter()

    def _draw(self, name: str) -> None:
        if not self.enabled:
            return
        filled = int(round(self.width * self.done / self.n_steps))
        bar = "#" * filled + "." * (self.width - filled)
        elapsed = time.perf_counter() - self.started
        self.stream.write(f"\r[{bar}] {self.done}/{self.n_steps} {name:<28.28s} {elapsed:6.1f} s")
        self.stream.flush()

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Time one step and advance the bar when it ends."""
        self._draw(name)
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = time.perf_counter() - start
            self.done += 1
            self._draw(name)

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()
