"""The one place that sets Numba options for every kernel.

Kernels are compiled on first call (no eager signatures), cached on disk
(``cache=True``) so a second process compiles nothing, and use fastmath flags
without ``nnan``/``ninf`` because the EM code relies on ``-inf`` (log 0).

Set ``CONSENSUS_NUMBA_CACHE=0`` to switch the on-disk cache off, e.g. when
many processes share one read-only install (numba issue #4807 reports
crashes when cached kernels are loaded concurrently with multiprocessing).
"""

from __future__ import annotations

import os
from functools import partial

import numba

CACHE: bool = os.environ.get("CONSENSUS_NUMBA_CACHE", "1") != "0"
FASTMATH: frozenset[str] = frozenset({"nsz", "arcp", "contract", "afn", "reassoc"})

#: Serial kernel: arrays and scalars in, arrays out; never raises on valid input.
kernel = partial(numba.njit, cache=CACHE, fastmath=set(FASTMATH), nogil=True)
#: Kernel whose outer loop is a ``prange`` over independent owners (items or workers).
parallel_kernel = partial(numba.njit, cache=CACHE, fastmath=set(FASTMATH), nogil=True, parallel=True)

prange = numba.prange
