"""Pure Numba kernels: flat integer-coded arrays in, arrays out.

Nothing here imports polars or the public API, validates input, or raises on
valid input. Kernels never write into their inputs (polars hands out
read-only arrays) and give identical results for any thread count: a
``prange`` loop only writes the rows of the owner (item or worker) it visits.
"""
