"""Reading a shop's export (CSV, Parquet, Excel) and mapping its columns to canonical names."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import yaml

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

# Column names that common shop exports use, lower-cased with spaces/underscores removed.
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "customer_id": ("customerid", "customer", "clientid", "userid", "buyerid", "contactid"),
    "order_id": (
        "orderid",
        "invoice",
        "invoiceno",
        "invoiceid",
        "order",
        "ordernumber",
        "transactionid",
    ),
    "timestamp": (
        "timestamp",
        "invoicedate",
        "orderdate",
        "date",
        "datetime",
        "createdat",
        "purchasedate",
        "eventtime",
        "time",
    ),
    "product_id": ("productid", "stockcode", "sku", "itemid", "product", "articleid"),
    "product_name": ("productname", "description", "itemname", "title", "name"),
    "quantity": ("quantity", "qty", "units", "numberofitems"),
    "unit_price": ("unitprice", "price", "itemprice"),
    "amount": ("amount", "revenue", "total", "ordervalue", "value", "sales", "linetotal"),
    "country": ("country", "countrycode"),
    "email": ("email", "emailaddress", "mail"),
    "first_name": ("firstname", "givenname"),
    "last_name": ("lastname", "surname", "familyname"),
    "gender": ("gender", "sex"),
    "signup_at": ("signupat", "signupdate", "registeredat", "registrationdate", "createdat"),
    "email_opt_in": ("emailoptin", "optin", "subscribed", "newsletter"),
    "event_type": ("eventtype", "event", "type", "action"),
}


def _normalise(name: str) -> str:
    return re.sub(r"[\s_\-\.]+", "", str(name)).lower()


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


def load_config(path: str | Path | None) -> dict:
    """Read a YAML config (e.g. ``columns:``, ``customers_columns:``, ``cutoff:``)."""
    if path is None:
        return {}
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: config file not found")
    return yaml.safe_load(path.read_text()) or {}


def read_table(path: str | Path, what: str = "transactions") -> pd.DataFrame:
    """Read one export file. Raises DataError for a missing, unsupported or empty file."""
    path = Path(path)
    if not path.exists():
        raise DataError(
            f"{path}: {what} file not found (working directory {Path.cwd()}); "
            "check the path passed to --" + what
        )
    kind = SUPPORTED_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise DataError(
            f"{path}: unsupported format {path.suffix or '(no suffix)'!r} for {what}; "
            f"supported: {', '.join(sorted(SUPPORTED_SUFFIXES))} (CSV, Parquet or Excel)"
        )
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the {what} file is empty (0 bytes); export it again")
    try:
        if kind == "parquet":
            frame = pd.read_parquet(path)
        elif kind == "excel":
            frame = pd.read_excel(path)
        else:
            # Only empty cells are missing: "n/a", "NA", "-" stay visible so that bad values
            # are reported by name instead of silently dropped.
            frame = pd.read_csv(
                path,
                sep="\t" if kind == "tsv" else None,
                engine="python",
                dtype=str,
                keep_default_na=False,
                na_values=[""],
            )
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{path}: the {what} file has no header and no rows") from exc
    except Exception as exc:  # noqa: BLE001 - re-raised with the file named
        raise DataError(f"{path}: could not read {what} as {kind}: {exc}") from exc
    if frame.empty:
        raise DataError(
            f"{path}: the {what} file has a header ({', '.join(map(str, frame.columns))}) "
            "but no rows"
        )
    return frame


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
    """Rename source columns to canonical names: explicit ``mapping`` first, then known aliases.

    Keeps only canonical columns. Raises DataError naming what was expected and what was
    found when a required column cannot be matched.
    """
    for canonical, column in mapping.items():
        if canonical not in wanted:
            raise DataError(
                f"{source}: --columns names {canonical!r}, which is not a {what} column; "
                f"canonical columns are {', '.join(wanted)}"
            )
        if column not in frame.columns:
            raise DataError(
                f"{source}: --columns maps {canonical!r} to {column!r}, but the file has no "
                f"such column; found: {', '.join(map(str, frame.columns))}"
            )
    renamed: dict[str, str] = {v: k for k, v in mapping.items()}
    taken = set(renamed.values())
    by_norm = {_normalise(c): c for c in frame.columns}
    for canonical in wanted:
        if canonical in taken:
            continue
        for alias in (_normalise(canonical),) + COLUMN_ALIASES.get(canonical, ()):
            column = by_norm.get(alias)
            if column is not None and column not in renamed:
                renamed[column] = canonical
                taken.add(canonical)
                break
    out = frame[list(renamed)].rename(columns=renamed)
    missing = [c for c in required if c not in out.columns]
    if missing:
        raise DataError(
            f"{source}: required {what} column(s) {', '.join(missing)} not found. "
            f"Expected at least {', '.join(required)}; found: "
            f"{', '.join(map(str, frame.columns))}. Map them with --columns, e.g. "
            f'--columns "{missing[0]}=<your column name>"'
        )
    return out
