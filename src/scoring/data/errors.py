"""Clear errors for bad input: what is wrong, where, a few examples, how many, and the fix."""

from __future__ import annotations

from collections.abc import Iterable


class DataError(ValueError):
    """Input data that the project cannot use.

    The message names the file (when known), the column, a few offending values and their
    count, and says how to fix it.
    """


def examples(values: Iterable, limit: int = 5) -> str:
    """Format up to ``limit`` distinct offending values for an error message."""
    seen: list[str] = []
    for value in values:
        text = repr(value)
        if text not in seen:
            seen.append(text)
        if len(seen) >= limit:
            break
    return ", ".join(seen)


def where(source: str | None, column: str | None = None) -> str:
    """'file.csv, column 'X'' prefix for messages."""
    parts = []
    if source:
        parts.append(f"{source}")
    if column:
        parts.append(f"column {column!r}")
    return ", ".join(parts) + ": " if parts else ""


def require_columns(frame, columns: Iterable[str], table: str, fix: str) -> None:
    """Raise DataError when ``frame`` lacks any of ``columns``: names the table, the missing
    and the found columns, and ``fix`` (what the caller needs them for and how to get them)."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        found = list(map(str, frame.columns))
        shown = found[:20] + (["..."] if len(found) > 20 else [])
        raise DataError(f"{table}: missing column(s) {missing} (found {shown}); {fix}")


def require_unique_ids(ids, table: str, fix: str, column: str = "customer_id") -> None:
    """Raise DataError when ``ids`` (a Series) has missing values or repeats: names the table
    and column, the count, a few of the repeated ids, and ``fix`` (why one row per id and how
    to get there)."""
    missing = int(ids.isna().sum())
    if missing:
        raise DataError(f"{table}, column {column!r}: {missing} missing id(s); every row needs "
                        f"an id. Drop or fix those rows; {fix}")
    repeated = ids.duplicated(keep=False)
    if repeated.any():
        raise DataError(
            f"{table}, column {column!r}: {int(ids[repeated].nunique())} id(s) appear more "
            f"than once ({int(repeated.sum())} rows), e.g. {examples(ids[repeated])}; {fix}")
