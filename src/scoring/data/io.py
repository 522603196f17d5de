"""Reading a shop's export (CSV, Parquet, Excel) and mapping its columns to canonical names."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .columns import COLUMN_ALIASES, match_columns  # noqa: F401 (aliases re-exported)
from .errors import DataError

SUPPORTED_SUFFIXES = {
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".xlsx": "excel",
    ".xls": "excel",
}

def parse_column_mapping(spec: str | dict | None) -> dict[str, str]:
    """Parse ``"customer_id=Customer ID,timestamp=InvoiceDate"`` (or a dict) into a mapping
    canonical name -> source column name."""
    if spec is None or spec == "":
        return {}
    if isinstance(spec, dict):
        return {str(k): str(v) for k, v in spec.items()}
    mapping: dict[str, str] = {}
    for item in spec.split(","):
        if not item.strip():
            continue
        if "=" not in item:
            raise DataError(
                f"--columns: {item!r} is not of the form canonical=source; "
                'write e.g. --columns "customer_id=Customer ID,timestamp=InvoiceDate"'
            )
        canonical, source = item.split("=", 1)
        mapping[canonical.strip()] = source.strip()
    return mapping


def read_table(path: str | Path, what: str = "transactions", **options) -> pd.DataFrame:
    """Read one export file: ``readers.read_export(path, what, **options).frame`` (every
    source column; CSV and Excel cells as text, <NA> only for empty cells; Parquet as
    stored). ``options``: ``encoding``, ``sheet``, ``header_row``, ``delimiter``. Raises
    DataError for a missing, unsupported, empty or unreadable file."""
    from .readers import read_export  # readers imports this module

    return read_export(path, what, **options).frame


def _string_dtype(arrow_type):
    """Arrow strings as pandas' ``string`` dtype (<NA> for missing), without a detour."""
    import pyarrow as pa

    if arrow_type in (pa.string(), pa.large_string()):
        return pd.StringDtype("pyarrow")
    return None


def read_parquet_by_column(path: str | Path, columns: list[str] | None = None) -> pd.DataFrame:
    """Read a Parquet file one column at a time, strings as the ``string`` dtype.

    The same table as ``pd.read_parquet(path)`` followed by ``astype("string")`` of its
    string columns, with a lower memory peak: each column's decode buffers are released
    before the next column is read (Arrow's memory pool keeps freed pages otherwise), and
    strings stay in their Arrow buffers instead of being converted twice (one Arrow chunk
    per row group).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    file = pq.ParquetFile(path)
    names = list(columns) if columns is not None else list(file.schema_arrow.names)
    data: dict[str, pd.Series] = {}
    index = None
    for name in names:
        # Row group by row group: the column keeps one Arrow chunk per row group (whole-file
        # reads concatenate them), so later steps can free it chunk by chunk.
        table = (
            pa.concat_tables(
                file.read_row_group(i, columns=[name], use_pandas_metadata=True)
                for i in range(file.num_row_groups)
            )
            if file.num_row_groups > 1
            else file.read(columns=[name], use_pandas_metadata=True)
        )
        part = table.to_pandas(types_mapper=_string_dtype, self_destruct=True, split_blocks=True)
        del table
        data[name] = part[name]
        index = part.index
        del part
        pa.default_memory_pool().release_unused()
    if not names:
        return pd.read_parquet(path, columns=[])
    return pd.DataFrame(data, index=index, copy=False)


def map_columns(
    frame: pd.DataFrame,
    mapping: dict[str, str],
    wanted: tuple[str, ...],
    required: tuple[str, ...],
    source: str,
    what: str = "transactions",
) -> pd.DataFrame:
    """Rename source columns to canonical names (rules in ``scoring.data.columns``) and keep
    only the canonical columns. Raises DataError naming what was expected and what was found
    when a required column is missing or ambiguous."""
    match = match_columns(frame, mapping, wanted, required, source, what)
    return frame[list(match.renamed)].rename(columns=match.renamed)
