"""Batch scoring with Spark: the pandas engine's per-customer code, run per customer bucket.

``score_with_spark(scorer, shop, as_of)`` returns exactly what ``scorer.score(shop, as_of)``
returns (the scoring table and the campaign summary), computed in three steps:

1. Transactions (and events when present) become Spark DataFrames: from an in-memory
   ``ShopData`` with ``spark.createDataFrame`` (Arrow), or read from Parquet files on shared
   storage with ``score_parquet_with_spark`` (the driver then never holds the order lines).
   Only the columns ``score_customers`` reads are shipped (``TRANSACTION_INPUT_COLUMNS``,
   ``EVENT_INPUT_COLUMNS``); rows after the as-of day are dropped in Spark.
2. Every customer gets a bucket, ``pmod(hash(customer_id), n_buckets)``, and
   ``groupBy("bucket").applyInPandas`` (``cogroup`` with the events) calls
   ``scorer.score_customers`` on each bucket: the same code as the pandas engine. Customers are
   independent in ``score_customers``, so every bucket gives the rows the full run gives. The
   fitted scorer reaches the executors as a broadcast variable (pickled once), so executors
   need the ``scoring`` package and its dependencies installed, in the same versions.
3. The per-customer rows (one per customer: small) are collected through Arrow and the
   population-level steps (RFM quintiles, lifecycle, leads, tiers, budget, control groups)
   run on the driver with ``scorer.finalize``, as in the pandas engine.

Exactness: within a bucket the order lines keep their input order (a row number travels with
them), so order-dependent steps (sums of amounts, the last country) see the rows in the order
the pandas engine sees them, and the results are equal, not just close. Timestamps travel as
``TIMESTAMP_NTZ`` (naive shop-local time, no time-zone shift); Spark stores microseconds, so
sub-microsecond parts of timestamps are truncated (shops log seconds). Per-customer columns
come back with the dtypes the pandas engine gives them (probed by scoring one customer on the
driver).
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from .data.errors import DataError
from .data.schema import DATETIME_COLUMNS, FLOAT_COLUMNS, STRING_COLUMNS, ShopData
from .scorer import CustomerScorer
from .timeframe import ScoringMoment

logger = logging.getLogger(__name__)

DEFAULT_MASTER = "local[*]"
APP_NAME = "customer-scoring"
TRANSACTION_INPUT_COLUMNS: tuple[str, ...] = (
    "customer_id",
    "order_id",
    "timestamp",
    "amount",
    "quantity",
    "country",
    "product_id",
)
"""Transaction columns shipped to the executors (those present in the input): what
``CustomerScorer.score_customers`` reads, plus ``product_id`` (part of the model's input)."""
EVENT_INPUT_COLUMNS: tuple[str, ...] = ("customer_id", "timestamp", "event_type", "product_id")
"""Event columns shipped to the executors (what the cart and e-mail flags, the churn features
and the recommender's customer histories read)."""
ROWS_PER_BUCKET = 500_000
"""Default bucket size in order lines: about 100 MB of pandas per bucket in a Python worker."""
CHECK_SAMPLE_ROWS = 100_000
"""Order lines ``score_parquet_with_spark`` hands to ``scorer.check_input``."""
LOCAL_SHUFFLE_PARTITIONS = 8
NANOS_AS_LONG = "spark.sql.legacy.parquet.nanosAsLong"
"""pandas writes nanosecond timestamps, which Spark reads only as integers (this setting)."""
LOCAL_DRIVER_MEMORY = "4g"

_ROW = "_row"
_BUCKET = "bucket"


# --------------------------------------------------------------------------- session


def spark_session(master: str | None = None, conf: dict[str, str] | None = None):
    """The active SparkSession, or a new one (app ``customer-scoring``).

    A new session gets: ``master`` (default ``local[*]``), Arrow on (no silent fallback),
    session time zone UTC, quiet logging (ERROR), and for ``local`` masters
    ``LOCAL_SHUFFLE_PARTITIONS`` shuffle partitions, no UI, ``spark.driver.memory``
    ``LOCAL_DRIVER_MEMORY`` and, unless ``PYSPARK_PYTHON`` is set, this interpreter
    (``sys.executable``) as the Python of the workers. ``conf`` entries override these.
    A running session is returned as it is (its master wins over ``master``; a warning says
    so when they differ).
    """
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is None and SparkContext._active_spark_context is not None:
        active = SparkSession.builder.getOrCreate()
    if active is not None:
        running = active.sparkContext.master
        if master is not None and running != master:
            logger.warning("using the running Spark session (master %s), not %s", running, master)
        return active
    master = master or DEFAULT_MASTER
    settings = {
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.execution.arrow.pyspark.fallback.enabled": "false",
        "spark.sql.session.timeZone": "UTC",
    }
    if master.startswith("local"):
        settings.update(
            {
                "spark.sql.shuffle.partitions": str(LOCAL_SHUFFLE_PARTITIONS),
                "spark.ui.enabled": "false",
                "spark.driver.memory": LOCAL_DRIVER_MEMORY,
            }
        )
        # pyspark starts its workers with $PYSPARK_PYTHON (default: python3 on the PATH, which
        # may lack the scoring package); locally this interpreter is the right one.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    settings.update(conf or {})
    builder = SparkSession.builder.master(master).appName(APP_NAME)
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


@contextmanager
def _session(master: str | None, conf: dict[str, str] | None = None) -> Iterator:
    """A session for one job: stopped at the end only when this job started it."""
    from pyspark import SparkContext

    started = SparkContext._active_spark_context is None
    with warnings.catch_warnings():
        # pyspark 4 warns on every pandas conversion under pandas 3; the equality tests
        # (tests/test_spark.py) check the conversions this module uses.
        warnings.filterwarnings(
            "ignore", message="PySpark does not yet fully support pandas", category=FutureWarning
        )
        spark = spark_session(master, conf)
        try:
            yield spark
        finally:
            if started:
                spark.stop()


# --------------------------------------------------------------------------- entry points


def score_with_spark(
    scorer: CustomerScorer,
    shop: ShopData,
    as_of=None,
    master: str | None = None,
    n_buckets: int | None = None,
    conf: dict[str, str] | None = None,
) -> tuple[pd.DataFrame, dict]:
    """``scorer.score(shop, as_of)`` computed with Spark; equal output.

    Args:
        scorer: a fitted ``CustomerScorer``.
        shop: the shop's canonical tables (in memory; shipped to Spark with Arrow).
        as_of: the as-of day (last day of data; date-like or ``ScoringMoment``); default
            ``shop.as_of``.
        master: Spark master for a new session (default ``local[*]``); a running session is
            used as it is and left running.
        n_buckets: customer buckets (one pandas call each); default
            ``max(2 * default parallelism, ceil(order lines / ROWS_PER_BUCKET))``.
        conf: extra Spark settings for a new session.

    Returns:
        (scores, summary): the scoring table (one row per customer, sorted by customer_id,
        the pandas engine's columns and dtypes) and the campaign summary dict.
    """
    moment = ScoringMoment.of(as_of if as_of is not None else shop.as_of)
    scorer.check_input(shop.transactions)
    tx_pdf = _input_frame(shop.transactions, TRANSACTION_INPUT_COLUMNS, "transactions")
    tx_pdf[_ROW] = np.arange(len(tx_pdf), dtype=np.int64)
    ev_pdf = None
    if shop.events is not None and len(shop.events):
        ev_pdf = _input_frame(shop.events, EVENT_INPUT_COLUMNS, "events")
    tx_dtypes = _dtypes(tx_pdf)
    ev_dtypes = _dtypes(ev_pdf) if ev_pdf is not None else None
    with _session(master, conf) as spark:
        with _timed("createDataFrame (Arrow)"):
            tx = spark.createDataFrame(tx_pdf, schema=_spark_schema(tx_pdf))
            ev = (
                spark.createDataFrame(ev_pdf, schema=_spark_schema(ev_pdf))
                if ev_pdf is not None
                else None
            )
        probe = _probe(scorer, tx_pdf, ev_pdf, moment)
        del tx_pdf, ev_pdf
        per_customer = _score_buckets(
            spark, scorer, tx, ev, moment, tx_dtypes, ev_dtypes, probe, n_buckets,
            len(shop.transactions),
        )  # fmt: skip
    with _timed("finalize on the driver"):
        return scorer.finalize(per_customer, moment, shop.customers)


def score_parquet_with_spark(
    scorer: CustomerScorer,
    transactions_path: str | Path,
    as_of,
    events_path: str | Path | None = None,
    customers_path: str | Path | None = None,
    master: str | None = None,
    n_buckets: int | None = None,
    conf: dict[str, str] | None = None,
) -> tuple[pd.DataFrame, dict]:
    """Score a shop whose canonical tables are Parquet files (or folders) on shared storage.

    The files hold the data layer's cleaned tables (canonical columns, purchases only), e.g.
    ``shop.transactions.to_parquet(path)``; every executor must be able to read the paths.
    Timestamps may be stored in nanoseconds (pandas' default) or microseconds (Spark's);
    they are read as naive shop-local times, truncated to the microsecond.
    The driver reads only the customer profiles (for ``finalize``) and samples of
    ``CHECK_SAMPLE_ROWS`` order lines up to the as-of day and events (for
    ``scorer.check_input`` and to learn the output dtypes). Within a customer the order
    lines keep the order in which pandas reads the files (files sorted by path, rows in file
    order).

    ``as_of``: the as-of day (last day of data; date-like or ``ScoringMoment``): order lines
    and events before its cutoff (the next day) are scored.

    Returns (scores, summary), equal to ``scorer.score`` on the same tables loaded in pandas.
    """
    from pyspark.sql import functions as F

    moment = ScoringMoment.of(as_of)
    with _session(master, conf) as spark, _conf(spark, NANOS_AS_LONG, "true"):
        raw = spark.read.parquet(str(transactions_path))
        columns = [c for c in TRANSACTION_INPUT_COLUMNS if c in raw.columns]
        _require_columns(raw.columns, str(transactions_path), "transactions")
        tx = _canonical_spark(_in_file_order(spark, raw, columns))
        tx_dtypes = {c: _canonical_dtype(c) for c in columns} | {_ROW: np.dtype("int64")}
        end = F.lit(str(moment.cutoff)).cast("timestamp_ntz")
        with _timed("sample and check_input"):
            sample = _to_pandas(
                tx.filter(F.col("timestamp") < end).limit(CHECK_SAMPLE_ROWS), tx_dtypes
            )
            scorer.check_input(sample)
        ev = None
        ev_dtypes = None
        if events_path is not None:
            ev_raw = spark.read.parquet(str(events_path))
            _require_columns(ev_raw.columns, str(events_path), "events")
            ev_columns = [c for c in EVENT_INPUT_COLUMNS if c in ev_raw.columns]
            ev = _canonical_spark(ev_raw.select(*ev_columns))
            ev_dtypes = {c: _canonical_dtype(c) for c in ev_columns}
        with _timed("dtype probe and row count"):
            probe = _probe_sample(scorer, sample, ev, moment, ev_dtypes)
            n_rows = raw.count()
        per_customer = _score_buckets(
            spark, scorer, tx, ev, moment, tx_dtypes, ev_dtypes, probe, n_buckets, n_rows
        )
    with _timed("finalize on the driver"):
        customers = _read_customers(customers_path) if customers_path is not None else None
        return scorer.finalize(per_customer, moment, customers)


# --------------------------------------------------------------------------- the Spark job


def _score_buckets(
    spark,
    scorer: CustomerScorer,
    tx,
    ev,
    moment: ScoringMoment,
    tx_dtypes: dict,
    ev_dtypes: dict | None,
    probe: pd.DataFrame,
    n_buckets: int | None,
    n_rows: int,
) -> pd.DataFrame:
    """Per-customer rows of every customer (``scorer.score_customers`` per bucket), sorted by
    customer_id, with the pandas engine's dtypes (those of ``probe``); rows before the
    moment's cutoff."""
    from pyspark.sql import functions as F

    if n_buckets is None:
        parallelism = spark.sparkContext.defaultParallelism
        n_buckets = max(2 * parallelism, math.ceil(n_rows / ROWS_PER_BUCKET))
    if n_buckets < 1:
        raise DataError(f"n_buckets={n_buckets} must be at least 1.")
    end = F.lit(str(moment.cutoff)).cast("timestamp_ntz")
    bucket = F.pmod(F.hash("customer_id"), F.lit(n_buckets))
    tx = tx.filter(F.col("timestamp") < end).withColumn(_BUCKET, bucket)
    schema = _spark_schema(probe)
    get_scorer, release = _ship(spark, scorer)
    columns = list(probe.columns)
    empty = probe.iloc[:0]

    def score_bucket(tx_pdf: pd.DataFrame, ev_pdf: pd.DataFrame | None) -> pd.DataFrame:
        if tx_pdf.empty:  # a bucket with events only: nobody to score
            return empty
        tx_pdf = (
            tx_pdf.drop(columns=_BUCKET)
            .astype(tx_dtypes)
            .sort_values(_ROW, kind="stable")
            .drop(columns=_ROW)
            .reset_index(drop=True)
        )
        if ev_pdf is not None and len(ev_pdf):
            ev_pdf = ev_pdf.drop(columns=_BUCKET).astype(ev_dtypes).reset_index(drop=True)
        else:  # no events in this bucket: what score_customers does without events
            ev_pdf = None
        out = get_scorer().score_customers(tx_pdf, moment, ev_pdf)
        return out[columns]

    if ev is None:
        result = tx.groupBy(_BUCKET).applyInPandas(lambda pdf: score_bucket(pdf, None), schema)
    else:
        ev = ev.filter(F.col("timestamp") < end).withColumn(_BUCKET, bucket)
        result = (
            tx.groupBy(_BUCKET).cogroup(ev.groupBy(_BUCKET)).applyInPandas(score_bucket, schema)
        )
    try:
        with _timed(f"score_customers in {n_buckets} buckets and collect"):
            per_customer = _to_pandas(result, _dtypes(probe))
    finally:
        release()
    return per_customer.sort_values("customer_id", kind="stable").reset_index(drop=True)


def _in_file_order(spark, frame, columns: list[str]):
    """``columns`` of a Parquet read plus ``_ROW``: (file number, row in the file) as int64
    (file number * 2**40 + row index), the order in which pandas / pyarrow read a folder
    (files sorted by path, rows in file order). Spark's own order is not that (it reads the
    largest file splits first). The few file paths are collected, sorted and numbered on the
    driver and joined back as a broadcast."""
    from pyspark.sql import functions as F

    located = frame.select(
        *columns,
        F.col("_metadata.file_path").alias("_file"),
        F.col("_metadata.row_index").alias("_row_in_file"),
    )
    files = sorted(row[0] for row in located.select("_file").distinct().collect())
    numbers = spark.createDataFrame(
        pd.DataFrame({"_file": pd.array(files, dtype="string"),
                      "_file_number": np.arange(len(files), dtype=np.int64)}),
        schema="_file string, _file_number long",
    )  # fmt: skip
    row = F.col("_file_number") * F.lit(1 << 40) + F.col("_row_in_file")
    return located.join(F.broadcast(numbers), "_file").select(*columns, row.alias(_ROW))


def _ship(spark, scorer: CustomerScorer) -> tuple[Callable[[], CustomerScorer], Callable]:
    """The scorer on the executors, and a function that frees it after the job: a broadcast
    (pickled once per job), or the closure where broadcasts are not available (Spark
    Connect)."""
    try:
        handle = spark.sparkContext.broadcast(scorer)
    except Exception:  # noqa: BLE001 - Spark Connect has no SparkContext
        return (lambda: scorer), (lambda: None)
    return (lambda: handle.value), handle.unpersist


@contextmanager
def _timed(step: str) -> Iterator[None]:
    """Log a step's wall seconds (logger ``scoring.spark_engine``, level INFO)."""
    start = time.perf_counter()
    yield
    logger.info("%s: %.1f s", step, time.perf_counter() - start)


def _probe(
    scorer: CustomerScorer, tx: pd.DataFrame, events: pd.DataFrame | None, moment: ScoringMoment
) -> pd.DataFrame:
    """``score_customers`` on one customer (with an order up to the moment's as-of day): its
    dtypes are the output schema of the buckets."""
    before = tx["timestamp"] < moment.cutoff
    if not before.any():
        raise DataError(
            f"no order lines up to {moment} (the as-of day); the first "
            f"order is on {tx['timestamp'].min()}. Pass a later --as-of."
        )
    customer = tx.loc[before.to_numpy().argmax(), "customer_id"]
    one_tx = tx.loc[tx["customer_id"] == customer].drop(columns=_ROW)
    one_ev = events.loc[events["customer_id"] == customer] if events is not None else None
    return scorer.score_customers(one_tx, moment, one_ev)


def _probe_sample(
    scorer: CustomerScorer, sample: pd.DataFrame, ev, moment: ScoringMoment,
    ev_dtypes: dict | None
) -> pd.DataFrame:
    """``_probe`` for Spark inputs, on the sample of order lines already on the driver (the
    probe needs the output dtypes, not a customer's complete history) and a sample of events,
    preferring a customer found in both samples."""
    if ev is not None:
        ev_sample = _to_pandas(ev.limit(CHECK_SAMPLE_ROWS), ev_dtypes)
        both = sample["customer_id"].isin(ev_sample["customer_id"])
        if both.any():
            sample = sample.loc[sample["customer_id"] == sample.loc[both.idxmax(), "customer_id"]]
    else:
        ev_sample = None
    return _probe(scorer, sample.reset_index(drop=True), ev_sample, moment)


# --------------------------------------------------------------------------- conversions


def _input_frame(frame: pd.DataFrame, wanted: tuple[str, ...], table: str) -> pd.DataFrame:
    """The ``wanted`` columns present in ``frame`` (a copy, default index)."""
    _require_columns(frame.columns, table, table)
    return frame[[c for c in wanted if c in frame.columns]].reset_index(drop=True)


def _require_columns(columns, source: str, table: str) -> None:
    needed = ("customer_id", "timestamp") + (("amount",) if table == "transactions" else ())
    missing = [c for c in needed if c not in columns]
    if missing:
        raise DataError(
            f"{source}: the {table} lack column(s) {', '.join(missing)} "
            f"(found {', '.join(map(str, columns))}). Write the data layer's "
            "canonical tables (scoring.data.load_files) to Parquet."
        )


def _dtypes(frame: pd.DataFrame) -> dict:
    return dict(frame.dtypes.items())


def _canonical_dtype(column: str):
    """The canonical pandas dtype of a table column (``schema.py``)."""
    if column in STRING_COLUMNS:
        return pd.StringDtype()
    if column in DATETIME_COLUMNS:
        return np.dtype("datetime64[ns]")
    if column in FLOAT_COLUMNS:
        return np.dtype("float64")
    raise DataError(f"column {column!r} has no canonical dtype")


def _canonical_spark(frame):
    """Canonical Spark types: strings, naive timestamps (``TIMESTAMP_NTZ``), doubles.

    Timestamps read as nanoseconds since the epoch (``NANOS_AS_LONG``) become naive
    timestamps by integer arithmetic (floored to the microsecond), independent of the
    session time zone."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    types = {field.name: field.dataType for field in frame.schema.fields}

    def canonical(c: str):
        if c in STRING_COLUMNS:
            return F.col(c).cast("string").alias(c)
        if c in DATETIME_COLUMNS and isinstance(types[c], T.LongType):
            return F.expr(
                f"timestampadd(MICROSECOND, ({c} - pmod({c}, 1000)) div 1000, "
                f"TIMESTAMP_NTZ'1970-01-01 00:00:00')"
            ).alias(c)
        if c in DATETIME_COLUMNS:
            return F.col(c).cast("timestamp_ntz").alias(c)
        if c in FLOAT_COLUMNS:
            return F.col(c).cast("double").alias(c)
        return F.col(c)

    return frame.select(*[canonical(c) for c in frame.columns])


@contextmanager
def _conf(spark, key: str, value: str) -> Iterator[None]:
    """A runtime SQL setting for the duration of a job; the previous value is restored."""
    previous = spark.conf.get(key, None)
    spark.conf.set(key, value)
    try:
        yield
    finally:
        if previous is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, previous)


def _spark_type(series: pd.Series):
    """The Spark type a pandas column travels as."""
    from pyspark.sql import types as T

    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return T.BooleanType()
    if pd.api.types.is_integer_dtype(dtype):
        return T.LongType()
    if pd.api.types.is_float_dtype(dtype):
        return T.DoubleType()
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return T.TimestampNTZType()
    if isinstance(dtype, pd.StringDtype):
        return T.StringType()
    values = series.dropna()
    first = values.iloc[0] if len(values) else ""
    if isinstance(first, (list, tuple, np.ndarray)):
        return T.ArrayType(T.StringType())
    if isinstance(first, (bool, np.bool_)):
        return T.BooleanType()
    return T.StringType()


def _spark_schema(frame: pd.DataFrame):
    from pyspark.sql import types as T

    return T.StructType([T.StructField(str(c), _spark_type(frame[c]), True) for c in frame.columns])


def _to_pandas(frame, dtypes: dict) -> pd.DataFrame:
    """Collect a Spark DataFrame through Arrow into pandas with the given dtypes; list
    columns become Python lists of str (as the pandas engine builds them)."""
    table = frame.toArrow()
    lists = [
        name
        for name, field_type in zip(table.column_names, table.schema.types, strict=True)
        if pa.types.is_list(field_type) or pa.types.is_large_list(field_type)
    ]
    out = table.drop_columns(lists).to_pandas(
        types_mapper={pa.string(): pd.StringDtype(), pa.large_string(): pd.StringDtype()}.get
    )
    for name in lists:
        out[name] = pd.Series(table.column(name).to_pylist(), index=out.index, dtype=object)
    out = out[table.column_names]
    return out.astype({c: d for c, d in dtypes.items() if c in out.columns and c not in lists})


def _read_customers(path: str | Path) -> pd.DataFrame:
    """Customer profiles (canonical Parquet) on the driver, in canonical dtypes."""
    frame = pd.read_parquet(path)
    if "customer_id" not in frame:
        raise DataError(
            f"{path}: the customers lack column customer_id (found {', '.join(frame.columns)})."
        )
    for column in frame.columns:
        if column in STRING_COLUMNS:
            frame[column] = frame[column].astype("string")
        elif column in DATETIME_COLUMNS:
            frame[column] = frame[column].astype("datetime64[ns]")
        elif column == "email_opt_in":
            frame[column] = frame[column].astype("boolean")
    return frame
