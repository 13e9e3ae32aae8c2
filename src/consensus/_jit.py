"""The one place that sets Numba options for every kernel.

Kernels are compiled on first call (no eager signatures), cached on disk
(``cache=True``) so a second process compiles nothing, and use no fastmath
flags: with them (``reassoc``, ``contract``) LLVM may sum or fuse differently in
a fresh compile and in the code loaded from the cache, and the first run after
an install printed other last digits than the next ones (per-item entropies,
fraud p-values: 1 ulp). Strict IEEE arithmetic keeps every output
byte-identical across runs and thread counts. Its cost is measured by
``python benchmarks/fastmath.py`` (``benchmarks/results/fastmath.md``: DS, 20
EM iterations on 10M judgments, strict / fastmath time 1.00 at K=2, 0.88 at K=5).

Set ``CONSENSUS_NUMBA_CACHE=0`` to switch the on-disk cache off, e.g. when
many processes share one read-only install (numba issue #4807 reports
crashes when cached kernels are loaded concurrently with multiprocessing).
"""

from __future__ import annotations

import os
from functools import partial

import numba

CACHE: bool = os.environ.get("CONSENSUS_NUMBA_CACHE", "1") != "0"

#: Serial kernel: arrays and scalars in, arrays out; never raises on valid input.
kernel = partial(numba.njit, cache=CACHE, fastmath=False, nogil=True)
#: Kernel whose outer loop is a ``prange`` over independent owners (items or workers).
parallel_kernel = partial(numba.njit, cache=CACHE, fastmath=False, nogil=True, parallel=True)

prange = numba.prange
