"""Built-in datasets and any shop's export files, loaded into canonical ``ShopData``.

Built-in datasets (``--dataset``):
- ``online-retail-ii``: UCI Online Retail II (CC BY 4.0), ``<paths.raw_dir>/online_retail_II.parquet``
  (default ``./data/raw``; from a source checkout, the repository's copy when missing there).
- ``cdnow-sample`` / ``cdnow``: the CDNOW logs shipped inside the lifetimes package (one line
  per customer and day: customer id, date, number of CDs, dollar value). No products.
- ``synthetic``: the seeded synthetic shop (``scoring.data.synthetic``), cached under
  ``paths.interim_dir`` (default ``./data/interim``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pandas as pd

from . import cleaning, io
from .columns import match_columns
from .errors import DataError
from .options import LoadOptions
from .schema import (
    CUSTOMER_COLUMNS,
    EVENT_COLUMNS,
    TRANSACTION_COLUMNS,
    TRANSACTION_REQUIRED,
    ShopData,
)

ONLINE_RETAIL_NAME = "online_retail_II.parquet"
ONLINE_RETAIL_MD5 = "747102e6023c4b6fe5308d8706f04d74"


def _source_checkout() -> Path | None:
    """The repository root when the package runs from a source checkout (``src/`` layout,
    e.g. an editable install), else None. Used only to find the bundled dataset when the
    working directory has no copy of it, and for the git commit of the code."""
    root = Path(__file__).resolve().parents[3]
    if (root / "pyproject.toml").is_file() and (root / "src" / "scoring").is_dir():
        return root
    return None


SOURCE_ROOT: Path | None = _source_checkout()

# Folders come from the configuration (``scoring.config.PathsConfig``: ``--config`` YAML
# ``paths:``), by default under the working directory, never from this file's location. The
# CLI pins them with ``set_paths`` while a command runs; otherwise they follow the working
# directory. ``PROJECT_ROOT``, ``DATA_DIR``, ``RAW_DIR``, ``INTERIM_DIR``, ``PROCESSED_DIR``
# and ``ONLINE_RETAIL_FILE`` stay importable: they are computed when read (``__getattr__``).
_PATHS = None


def paths():
    """The folders in force (``scoring.config.PathsConfig``): the pinned ones, else the
    defaults under the current working directory."""
    if _PATHS is not None:
        return _PATHS
    from ..config import PathsConfig

    return PathsConfig()


def set_paths(new_paths):
    """Pin the folders (a ``PathsConfig``; None: follow the working directory again) and
    return the previous pin."""
    global _PATHS
    previous, _PATHS = _PATHS, new_paths
    return previous


def online_retail_file(must_exist: bool = False) -> Path:
    """The bundled Online Retail II file: ``paths.raw_dir``'s copy, else (source checkout
    only) the repository's ``data/raw`` copy. ``must_exist``: a DataError saying where it
    looked and how to set ``paths.raw_dir`` when neither exists (else the raw_dir path)."""
    raw_dir = paths().raw_dir
    candidate = raw_dir / ONLINE_RETAIL_NAME
    if candidate.is_file():
        return candidate
    looked = [str(candidate)]
    if SOURCE_ROOT is not None:
        bundled = SOURCE_ROOT / "data" / "raw" / ONLINE_RETAIL_NAME
        if bundled.is_file():
            return bundled
        looked.append(str(bundled))
    if must_exist:
        raise DataError(
            f"online-retail-ii: {ONLINE_RETAIL_NAME} not found; looked in {' and '.join(looked)}"
            f" (paths.raw_dir = {raw_dir}, from the working directory {Path.cwd()}). Run from "
            "the project folder (the one with data/raw/), or set the folder in a --config "
            "YAML: paths: {raw_dir: /path/to/raw} (or paths: {data_dir: ...}).")
    return candidate


def __getattr__(name: str):
    if name == "PROJECT_ROOT":  # the folder default paths are resolved against
        return Path.cwd()
    if name == "DATA_DIR":
        return paths().data_dir
    if name == "RAW_DIR":
        return paths().raw_dir
    if name == "INTERIM_DIR":
        return paths().interim_dir
    if name == "PROCESSED_DIR":
        return paths().processed_dir
    if name == "ONLINE_RETAIL_FILE":
        return online_retail_file()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class DatasetDefaults:
    """The split every evaluation of a dataset uses unless told otherwise."""

    cutoff: str
    holdout_days: int


DATASETS: dict[str, DatasetDefaults] = {
    "online-retail-ii": DatasetDefaults("2011-06-09", 182),
    "cdnow-sample": DatasetDefaults("1997-10-01", 273),
    "cdnow": DatasetDefaults("1997-10-01", 273),
    "synthetic": DatasetDefaults("2023-07-01", 182),
}

ONLINE_RETAIL_COLUMNS = {
    "order_id": "Invoice",
    "product_id": "StockCode",
    "product_name": "Description",
    "quantity": "Quantity",
    "timestamp": "InvoiceDate",
    "unit_price": "Price",
    "customer_id": "Customer ID",
    "country": "Country",
}


def load_dataset(
    name: str,
    as_of=None,
    n_customers: int = 5000,
    seed: int = 0,
) -> ShopData:
    """Load a built-in dataset in canonical form with its row accounting.

    Args:
        name: one of ``DATASETS``.
        as_of: rows after this date are quarantined (``after_as_of``); None keeps all.
        n_customers, seed: size and seed of the ``synthetic`` shop.
    """
    if name == "online-retail-ii":
        file = online_retail_file(must_exist=True)
        raw = pd.read_parquet(file)
        mapped = io.map_columns(
            raw,
            ONLINE_RETAIL_COLUMNS,
            TRANSACTION_COLUMNS,
            TRANSACTION_REQUIRED,
            str(file),
        )
        return _build(name, mapped, source={"file": _relative(file)}, as_of=as_of)
    if name in ("cdnow-sample", "cdnow"):
        return _build(
            name,
            _read_cdnow(name),
            source={"file": f"lifetimes:{name}"},
            as_of=as_of,
            allow_zero_price=True,
        )
    if name == "synthetic":
        return _load_synthetic(n_customers, seed, as_of)
    raise DataError(
        f"unknown dataset {name!r}; built-in datasets are {', '.join(DATASETS)}. "
        "For your own shop use --transactions PATH (with --columns if needed)."
    )


def load_files(
    transactions: str | Path,
    columns: str | dict | None = None,
    customers: str | Path | None = None,
    events: str | Path | None = None,
    customer_columns: str | dict | None = None,
    event_columns: str | dict | None = None,
    as_of=None,
    date_format: str | None = None,
    name: str | None = None,
    options: LoadOptions | None = None,
    now=None,
) -> ShopData:
    """Load any shop's exports (CSV, Parquet or Excel) with an optional column mapping.

    ``columns`` maps canonical names to the file's names, e.g.
    ``"customer_id=Customer ID,timestamp=InvoiceDate"``; unmapped columns are matched by
    common aliases (Invoice, StockCode, Price, ...) without guessing between several
    (``scoring.data.columns``). ``options`` say how to read and clean the files (encoding,
    sheet, header row, date format, decimal separator, time zone, thresholds; ``LoadOptions``);
    ``date_format`` is a shortcut for ``options.date_format``. Duplicate lines are detected
    over all the file's columns, mapped or not. ``now``: the current moment for the
    ``future_timestamp`` rule (tests).
    """
    options = options or LoadOptions()
    if date_format is not None:
        options = options.with_changes(date_format=date_format)
    path = Path(transactions)
    table = _read(path, "transactions", options)
    match = match_columns(table.frame, io.parse_column_mapping(columns), TRANSACTION_COLUMNS,
                          TRANSACTION_REQUIRED, str(path))
    warnings = list(table.meta.get("warnings", [])) + match.warnings
    duplicate = cleaning.duplicated_rows(table.frame)
    mapped = table.frame[list(match.renamed)].rename(columns=match.renamed)
    customers_raw = events_raw = None
    if customers is not None:
        c_table = _read(customers, "customers", options)
        customers_raw = io.map_columns(c_table.frame, io.parse_column_mapping(customer_columns),
                                       CUSTOMER_COLUMNS, ("customer_id",), str(customers),
                                       "customers")
        warnings += list(c_table.meta.get("warnings", []))
    if events is not None:
        e_table = _read(events, "events", options)
        events_raw = io.map_columns(e_table.frame, io.parse_column_mapping(event_columns),
                                    EVENT_COLUMNS, ("customer_id", "timestamp", "event_type"),
                                    str(events), "events")
        warnings += list(e_table.meta.get("warnings", []))
    shop = _build(
        name or path.stem, mapped, customers_raw, events_raw,
        source={"file": str(path), "customers": str(customers) if customers else None,
                "events": str(events) if events else None, "read": _read_meta(table)},
        as_of=as_of, options=options, duplicate=duplicate, part=table.part,
        part_names=table.part_names, now=now,
        source_names={canonical: source for source, canonical in match.renamed.items()})
    shop.warnings = warnings + shop.warnings
    return shop


def _read(path, what: str, options: LoadOptions):
    from .readers import read_export

    return read_export(path, what, encoding=options.encoding, sheet=options.sheet,
                       header_row=options.header_row, delimiter=options.delimiter)


def _read_meta(table) -> dict:
    """What the reader detected (encoding, delimiter, header row, sheets), JSON-friendly."""
    return {k: v for k, v in table.meta.items() if k != "warnings"}


def _build(
    name: str,
    mapped: pd.DataFrame | Callable[[], pd.DataFrame],
    customers_raw: pd.DataFrame | Callable[[], pd.DataFrame] | None = None,
    events_raw: pd.DataFrame | Callable[[], pd.DataFrame] | None = None,
    source: dict | None = None,
    as_of=None,
    date_format: str | None = None,
    allow_zero_price: bool = False,
    consume: bool = False,
    options: LoadOptions | None = None,
    duplicate=None,
    part=None,
    part_names=None,
    now=None,
    source_names: dict[str, str] | None = None,
) -> ShopData:
    """Clean the tables into a ``ShopData``. A table may be given as a zero-argument
    callable that returns it: it is then read only when it is cleaned, so that the raw input
    of one table is not held while another is cleaned. ``consume``: the tables are owned
    here and their columns are dropped once read (the cleaners' ``consume``), which lets the
    input be freed while the output is built (needs callables, or frames nobody else holds).
    ``duplicate``, ``part``, ``part_names``, ``now``, ``source_names``: see
    ``cleaning.clean_transactions``.
    """
    source = dict(source or {})
    options = options or LoadOptions()
    if date_format is not None:
        options = options.with_changes(date_format=date_format)
    table = _table(mapped)
    had = {c for c in table.columns if table[c].notna().any()}
    if {"quantity", "unit_price"} <= had or "amount" in had:
        had |= {"amount", "unit_price"}  # derived from each other by the cleaning
    input_columns = tuple(c for c in TRANSACTION_COLUMNS if c in had)
    transactions, quarantine, report = cleaning.clean_transactions(
        table, source.get("file", name), as_of=as_of, allow_zero_price=allow_zero_price,
        consume=consume, options=options, duplicate=duplicate, part=part,
        part_names=part_names, now=now, source_names=source_names)
    del table
    shop = ShopData(
        name=name,
        transactions=transactions,
        quarantine=quarantine,
        rows_in=report["rows_in"],
        source=source,
        reports={"transactions": report},
        input_columns=input_columns,
        warnings=list(report.get("warnings", [])),
    )
    if customers_raw is not None:
        shop.customers, shop.customers_quarantine, shop.reports["customers"] = (
            cleaning.clean_customers(_table(customers_raw),
                                     source.get("customers") or "customers", options))
        shop.warnings += shop.reports["customers"].get("warnings", [])
    if events_raw is not None:
        shop.events, shop.events_quarantine, shop.reports["events"] = cleaning.clean_events(
            _table(events_raw), source.get("events") or "events", as_of=as_of, consume=consume,
            options=options, now=now)
        shop.warnings += shop.reports["events"].get("warnings", [])
    if transactions.empty:
        raise DataError(
            f"{source.get('file', name)}: no usable transactions: all {report['rows_in']:,} "
            f"rows were quarantined ({_top_reasons(report)}). Check the column mapping "
            "(--columns) and the as-of date.")
    shop.as_of = pd.Timestamp(as_of) if as_of is not None else transactions["timestamp"].max()
    return shop


def _table(table: pd.DataFrame | Callable[[], pd.DataFrame]) -> pd.DataFrame:
    return table() if callable(table) else table


def _top_reasons(report: dict) -> str:
    items = sorted(report["quarantined"].items(), key=lambda kv: -kv[1])
    return ", ".join(f"{k}: {v:,}" for k, v in items if v) or "none"


def _read_cdnow(name: str) -> pd.DataFrame:
    datasets = resources.files("lifetimes") / "datasets"
    if name == "cdnow-sample":
        with resources.as_file(datasets / "CDNOW_sample.txt") as path:
            raw = pd.read_csv(
                path,
                sep=r"\s+",
                header=None,
                names=["customer_id", "master_id", "date", "quantity", "amount"],
                dtype={"customer_id": str, "date": str},
            )
    else:
        with resources.as_file(datasets / "CDNOW_master.txt") as path:
            raw = pd.read_csv(
                path,
                sep=r"\s+",
                header=0,
                names=["customer_id", "date", "quantity", "amount"],
                dtype={"customer_id": str, "date": str},
            )
    raw["customer_id"] = raw["customer_id"].str.lstrip("0")
    # One line per customer and day; line number makes a stable order id.
    return pd.DataFrame(
        {
            "customer_id": raw["customer_id"],
            "order_id": "O" + pd.Series(range(1, len(raw) + 1), index=raw.index).astype(str),
            "timestamp": pd.to_datetime(raw["date"], format="%Y%m%d"),
            "quantity": raw["quantity"].astype("float64"),
            "amount": raw["amount"].astype("float64"),
        }
    )


def _load_synthetic(n_customers: int, seed: int, as_of) -> ShopData:
    from . import synthetic

    cache = (
        paths().interim_dir / f"synthetic-{n_customers}-seed{seed}-v{synthetic.GENERATOR_VERSION}"
    )
    if not (cache / "synthetic.json").exists():
        cache.parent.mkdir(parents=True, exist_ok=True)
        shop = synthetic.generate_shop(n_customers=n_customers, seed=seed)
        # Write to a private folder, then rename: parallel test workers may race here.
        tmp = cache.with_name(f"{cache.name}.tmp-{os.getpid()}")
        synthetic.write_shop(shop, tmp)
        try:
            tmp.rename(cache)
        except OSError:  # another process won the race; its copy is identical
            shutil.rmtree(tmp, ignore_errors=True)
        del shop  # cleaned from the cache below, like every later load

    def table(name: str, columns: tuple[str, ...] | None = None):
        # Read when cleaned (one table's raw input in memory at a time); the frame is owned
        # by the cleaner (consume=True) and freed as it is copied.
        def read() -> pd.DataFrame:
            frame = synthetic.read_cached_table(cache, name)
            return frame if columns is None else frame[[c for c in columns if c in frame]]

        return read

    data = _build(
        "synthetic",
        table("transactions", TRANSACTION_COLUMNS),
        table("customers"),
        table("events"),
        source={"file": _relative(cache), "n_customers": n_customers, "seed": seed},
        as_of=as_of,
        consume=True,
    )
    data.truth = synthetic.read_cached_table(cache, "truth")
    data.products = synthetic.read_cached_table(cache, "products")
    _release_arrow_memory()
    return data


def _release_arrow_memory() -> None:
    """Return pages freed by Arrow's memory pool to the operating system (the pool keeps
    them otherwise, and the resident memory stays at the load's peak)."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()


def _relative(path: Path) -> str:
    """``path`` relative to the working directory (else the source checkout), for reports."""
    for root in (Path.cwd(), SOURCE_ROOT):
        if root is None:
            continue
        try:
            return str(path.relative_to(root))
        except ValueError:
            continue
    return str(path)


def data_hash(shop: ShopData) -> str:
    """A short content hash of the used transactions (for MLflow tags and score logs)."""
    hashed = pd.util.hash_pandas_object(shop.transactions, index=False)
    return hashlib.sha256(hashed.to_numpy().tobytes()).hexdigest()[:16]


def require_customers(shop: ShopData, minimum: int = 50, purpose: str = "modelling") -> None:
    """Refuse data with too few customers for ``purpose``."""
    n = shop.transactions["customer_id"].nunique()
    if n < minimum:
        raise DataError(
            f"{shop.source.get('file', shop.name)}: only {n:,} customers with usable orders; "
            f"{purpose} needs at least {minimum:,}. Load a longer history or a bigger shop."
        )
