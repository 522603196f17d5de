"""Top-n per row: the ranking kernel of every recommender.

Order within a row: score descending, then column ascending (so the same input always gives
the same output); -inf / NaN / +inf scores are never selected. ``tests/test_kernels.py``
checks both functions against an ``np.argsort`` reference.
"""

from __future__ import annotations

import numpy as np


def topn_cells(rows: np.ndarray, cols: np.ndarray, values: np.ndarray, n_rows: int, n: int
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-n of a set of scored cells ``(rows[i], cols[i], values[i])``, per row.

    Cells are sorted by (row, -value, column); each row keeps its first ``n``. Returns
    ``(idx, top, counts)``: ``idx`` int64 (n_rows, n) the columns (-1 for empty slots),
    ``top`` float64 (n_rows, n) their values (-inf for empty slots), ``counts`` (n_rows,) the
    number of cells of each row (before the cut at n).
    """
    order = np.lexsort((cols, -values, rows))
    rows, cols, values = rows[order], cols[order], values[order]
    counts = np.bincount(rows, minlength=n_rows)
    position = np.arange(len(rows)) - np.repeat(np.cumsum(counts) - counts, counts)
    keep = position < n
    idx = np.full((n_rows, n), -1, dtype=np.int64)
    top = np.full((n_rows, n), -np.inf)
    idx[rows[keep], position[keep]] = cols[keep]
    top[rows[keep], position[keep]] = values[keep]
    return idx, top, counts


def topn_dense(scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-n columns per row of a dense score array, best first.

    ``scores``: float array (m, n_items); -inf (or NaN) marks items that must not be
    recommended. Returns (indices, scores), both shape (m, min(n, n_items)); slots without a
    finite score have index -1 and score -inf. Equal scores: lower column first, so the same
    input always gives the same output.

    Vectorised: the n-th largest value of every row (``np.partition``) selects a few candidates
    per row, which are then sorted by (row, -score, column) (:func:`topn_cells`).
    """
    scores = np.asarray(scores)
    m, n_items = scores.shape
    n_eff = min(n, n_items)
    if n_eff == 0 or m == 0:
        return np.full((m, n_eff), -1, dtype=np.int64), np.full((m, n_eff), -np.inf)
    largest = scores.max()
    if np.isnan(largest) or largest == np.inf:  # NaN / +inf: never recommended
        scores = np.where(np.isfinite(scores), scores, scores.dtype.type(-np.inf))
    if n_eff < n_items:
        threshold = np.partition(scores, n_items - n_eff, axis=1)[:, n_items - n_eff]
        candidates = scores >= threshold[:, None]
        if np.isneginf(threshold).any():  # rows with fewer than n finite scores
            candidates &= np.isfinite(scores)
    else:
        candidates = np.isfinite(scores)
    flat = np.flatnonzero(candidates)
    rows, cols = np.divmod(flat, n_items)
    idx, top, _ = topn_cells(rows, cols, scores.ravel()[flat], m, n_eff)
    return idx, top
