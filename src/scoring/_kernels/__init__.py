"""Low-level kernels, each with a plain reference implementation that tests compare it against.

The project's clever low-level code lives here, one module per kernel, so that the code using
it reads plainly; every kernel module also holds (or names) a simple, obviously correct
version of the same computation, and a test compares the two on random inputs.

- ``stable_hash``: :func:`~scoring._kernels.stable_hash.stable_unit_hash`, the salted SipHash
  of ids to [0, 1) behind the offers' control groups (reference: pure-Python SipHash-2-4).
- ``sort_keys``: customer ids ranked byte pair by byte pair from the Arrow buffers and the
  bit-packed ``customer | day | row`` int64 sort keys behind ``rfm_summary`` (reference:
  Python sorting of tuples, in ``tests/test_kernels.py``).
- ``row_hash``: one uint64 hash per row (splitmix64-mixed column hashes) and the
  hash-then-verify ``duplicated_rows`` of the data layer (reference: ``DataFrame.duplicated``).
- ``topn``: top-n per row of a dense score matrix and per user of sparse cells, for the
  recommenders (reference: a per-row ``np.argsort``).
"""
