"""A seeded synthetic shop whose generating process is known (the "truth").

Purchasing follows the BG/NBD model exactly and spend follows the Gamma-Gamma model, so
the BTYD models can be checked against the parameters that generated the data; products
follow a Zipf-like popularity with customer taste clusters and repeat buying, so a
collaborative recommender can beat popularity; profiles, e-mail engagement, site sessions,
abandoned carts, cancellations and returns give the data layer and the behavioural features
something realistic to work on.

Time is measured in days from ``start`` (midnight). Customers are acquired (first purchase)
uniformly over ``[start, start + acquisition_days)`` (default: up to ``cutoff``) and simulated
until the end of the holdout window ``cutoff + holdout_days``.

Generating process for a buyer ``i`` (BG/NBD, Fader, Hardie & Lee 2005):

- ``lambda_i ~ Gamma(shape=r, rate=alpha)`` purchases per day while alive,
- ``p_i ~ Beta(a, b)``: after every *repeat* purchase the customer drops out with probability
  ``p_i`` (the first purchase at time 0 never ends the relationship, as in the model's
  likelihood),
- repeat purchases form a Poisson process with rate ``lambda_i`` until dropout or the end of
  the simulation; purchase timestamps are floored to days for the models (several orders on
  one day are possible and keep distinct ``order_id``).

Spend (Gamma-Gamma, Fader, Hardie & Lee 2005b): ``nu_i ~ Gamma(shape=q, rate=v)`` and each
order's value ``~ Gamma(shape=p, rate=nu_i)`` (currency, rounded to the cent). The order value
is split over 1..k product picks (picks of the same product in an order are merged into one
line); every line has an integer ``quantity`` and
``unit_price = line_value / quantity`` so that ``amount == quantity * unit_price`` holds
exactly and the lines of an order sum to the order value (to floating point precision).

Everything is vectorised numpy (no loop over customers, orders or lines); the only Python
loops run over e-mail campaigns (about 50) and pointer-jumping rounds (about log2 of the
longest repeat-buying chain).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .errors import DataError
from .schema import CUSTOMER_COLUMNS, EVENT_COLUMNS, EVENT_TYPES, TRANSACTION_COLUMNS

__all__ = [
    "SyntheticParams",
    "SyntheticShop",
    "generate_shop",
    "write_shop",
    "read_shop",
    "read_cached_table",
    "TRUTH_COLUMNS",
    "PRODUCT_COLUMNS",
    "TABLES",
    "GENERATOR_VERSION",
]

GENERATOR_VERSION = 1
"""Bumped whenever the same seed and parameters would give different tables; stored in
``synthetic.json`` so cached shops from an older generator can be detected and rebuilt."""

SECONDS_PER_DAY = 86_400
NS_PER_SECOND = 1_000_000_000

PRODUCT_COLUMNS: tuple[str, ...] = ("product_id", "product_name", "category", "base_price")
TRUTH_COLUMNS: tuple[str, ...] = (
    "customer_id",
    "is_lead",
    "purchase_rate_per_day",
    "dropout_probability",
    "spend_nu",
    "first_purchase_at",
    "dropout_at",
    "alive_at_cutoff",
    "orders_before_cutoff",
    "orders_holdout",
    "purchase_days_holdout",
    "revenue_holdout",
    "taste_cluster",
    "email_engagement",
)
TABLES: tuple[str, ...] = ("transactions", "customers", "events", "products", "truth")

_CATEGORIES: dict[str, tuple[str, ...]] = {
    "Kitchen": ("Mug", "Teapot", "Cake Tin", "Apron", "Tea Towel", "Jam Jar", "Bowl", "Spoon Set"),
    "Home Decor": ("Cushion", "Photo Frame", "Wall Clock", "Vase", "Mirror", "Doorstop", "Sign"),
    "Garden": ("Watering Can", "Bird House", "Plant Pot", "Garden Gloves", "Wind Chime", "Trug"),
    "Stationery": ("Notebook", "Pencil Set", "Gift Wrap", "Card", "Sticker Sheet", "Diary"),
    "Toys": ("Spinning Top", "Jigsaw", "Skittles", "Doll", "Kite", "Playing Cards", "Yo-Yo"),
    "Bags": ("Tote Bag", "Lunch Bag", "Shopper", "Purse", "Backpack", "Jumbo Bag"),
    "Lighting": ("Lantern", "Fairy Lights", "Night Light", "Lamp", "String Lights"),
    "Candles": ("T-Light Holder", "Candle", "Scented Candle", "Candle Pot", "Tealights"),
    "Party": ("Bunting", "Paper Cups", "Napkins", "Party Bag", "Paper Plates", "Balloons"),
    "Bath": ("Soap Dish", "Wash Bag", "Towel", "Bath Salts", "Toothbrush Holder"),
    "Jewellery": ("Necklace", "Bracelet", "Earrings", "Hair Clip", "Ring", "Brooch"),
    "Christmas": ("Bauble", "Advent Calendar", "Stocking", "Wreath", "Tree Topper", "Garland"),
}
_COLOURS: tuple[str, ...] = (
    "White", "Red", "Blue", "Pink", "Green", "Ivory", "Black", "Silver", "Gold", "Yellow",
    "Lilac", "Cream", "Natural", "Turquoise", "Grey",
)  # fmt: skip
_PATTERNS: tuple[str, ...] = (
    "Vintage", "Retro", "Floral", "Spotty", "Striped", "Heart", "Star", "Regency", "Rustic",
    "Enamel", "Paisley", "Polkadot", "Gingham", "Owl", "Bird", "Rose", "Lace", "Jumbo", "Mini",
)  # fmt: skip
_COUNTRIES: tuple[str, ...] = (
    "United Kingdom", "Germany", "France", "Ireland", "Netherlands", "Spain", "Belgium",
    "Switzerland", "Portugal", "Australia", "Norway", "Italy", "Sweden", "Denmark", "Poland",
)  # fmt: skip
_FEMALE_NAMES: tuple[str, ...] = (
    "Olivia", "Amelia", "Isla", "Ava", "Emily", "Sophie", "Grace", "Mia", "Poppy", "Ella",
    "Lily", "Freya", "Chloe", "Ruby", "Hannah", "Anna", "Laura", "Sarah", "Claire", "Emma",
)  # fmt: skip
_MALE_NAMES: tuple[str, ...] = (
    "Oliver", "George", "Harry", "Jack", "Jacob", "Noah", "Charlie", "Thomas", "Oscar", "James",
    "William", "Leo", "Henry", "Alfie", "Daniel", "Lukas", "Paul", "Mark", "Peter", "David",
)  # fmt: skip
_LAST_NAMES: tuple[str, ...] = (
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Robinson",
    "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall", "Wood",
    "Jackson", "Clarke", "Muller", "Schmidt", "Martin", "Bernard", "Dubois", "Murphy", "Kelly",
    "de Vries", "Garcia", "Peeters",
)  # fmt: skip
_EMAIL_DOMAINS: tuple[str, ...] = ("example.com", "example.org", "example.net")


@dataclass(frozen=True)
class SyntheticParams:
    """Parameters of the synthetic shop (time unit: days; money: currency units).

    Purchasing (BG/NBD), per day:
        r, alpha: ``lambda ~ Gamma(shape=r, rate=alpha)`` purchases per day; the mean rate is
            ``r / alpha`` (defaults 0.75 / 40 = 0.019 per day, about 7 per year).
        a, b: dropout probability after each repeat purchase ``p ~ Beta(a, b)`` (defaults
            0.8, 6.0: mean 0.12). With the default dates a buyer makes about 5.8 orders
            over the simulated period on average (first order included).
    Spend (Gamma-Gamma):
        p, q, v: order value ``~ Gamma(shape=p, rate=nu)``, ``nu ~ Gamma(shape=q, rate=v)``;
            mean order value ``p * v / (q - 1)`` (defaults 4, 4, 45: 60 currency units).
    Customers:
        lead_share: share of profiles that never buy (0.15).
        acquisition_days: first purchases are uniform over ``[start, start +
            acquisition_days)``; None (default) spreads them over ``[start, cutoff)``.
        home_country_share: share of customers in the first country of the list, "United
            Kingdom" (0.85); the rest follow a Zipf law over 14 other countries.
        signup_at_first_purchase_share: share of buyers who register at their first
            checkout (0.5); the others signed up earlier, ``Exponential(signup_lead_days)``
            days before (30).
        opt_in_rate: share of profiles opted in to e-mail (0.6).
    Orders and products:
        lines_per_order_mean: mean number of product picks per order (5.2), ``1 + NegBin``
            with dispersion ``lines_dispersion`` (1.5), capped at ``max_lines_per_order``
            (60); picks of the same product in one order are merged into one line, so an
            order has about 4.7 lines on average.
        n_products (3000), n_categories (12, at most 12): the catalogue; base prices are
            log-normal around ``median_price`` (6.0) with log-sd ``price_sigma`` (0.8).
        popularity_exponent: Zipf exponent of product popularity (0.6: the top product takes
            about 1.4% of lines; Online Retail II about 0.7%).
        n_taste_clusters: latent taste clusters (20); each prefers a few categories
            (Dirichlet concentration ``taste_concentration``, 0.25) and has its own product
            preferences (log-normal noise ``taste_noise``, 0.8).
        taste_strength: share of new (non-repeat) picks drawn from the customer's cluster
            rather than global popularity (0.85). An item-kNN recommender beats popularity
            by a clear margin on the holdout with the defaults.
        repeat_purchase_prob: probability that a pick in a repeat order re-buys a product
            the customer bought in an earlier order (0.5; about 39% of purchase lines are
            then re-bought products, Online Retail II: 37%).
        cancellation_rate: share of orders cancelled afterwards (0.015): every line gets a
            mirror row with negative quantity and order_id ``"C" + order_id``.
        return_rate: share of lines (partly) returned later (0.02): a row with negative
            quantity in a separate credit note, ``Exponential(return_delay_days)`` (10) days
            after the order (dropped when it would fall after the simulated period).
    Events (all while the customer is "alive"; after dropout at ``dead_activity_factor``,
    0.1, of the rate):
        email_interval_days: one campaign every 14 days from ``start``; an opted-in customer
            opens a campaign sent after signup with probability ``engagement ~
            Beta(email_open_a, email_open_b)`` (1.0, 7.0: mean 0.125) and clicks an opened
            e-mail with probability ``email_click_prob`` (0.2).
        tracked_order_share: share of orders whose web session is tracked (0.15): site_visit,
            product_view, cart_add, checkout_start shortly before the order.
        browse_rate_ratio: browse sessions per day relative to ``lambda`` (0.4); a browse
            session is a site_visit and a product_view; with probability
            ``abandoned_cart_prob`` (0.35) the viewed product is added to the cart and the
            cart is abandoned (no order follows from it), reaching checkout_start with
            probability ``checkout_start_prob`` (0.3).
        lead_browse_rate_per_day: browse sessions per day for leads (0.004).
    """

    r: float = 0.75
    alpha: float = 40.0
    a: float = 0.8
    b: float = 6.0
    p: float = 4.0
    q: float = 4.0
    v: float = 45.0
    lead_share: float = 0.15
    acquisition_days: int | None = None
    home_country_share: float = 0.85
    signup_at_first_purchase_share: float = 0.5
    signup_lead_days: float = 30.0
    opt_in_rate: float = 0.6
    lines_per_order_mean: float = 5.2
    lines_dispersion: float = 1.5
    max_lines_per_order: int = 60
    n_products: int = 3000
    n_categories: int = 12
    median_price: float = 6.0
    price_sigma: float = 0.8
    popularity_exponent: float = 0.6
    n_taste_clusters: int = 20
    taste_concentration: float = 0.25
    taste_noise: float = 0.8
    taste_strength: float = 0.85
    repeat_purchase_prob: float = 0.5
    cancellation_rate: float = 0.015
    return_rate: float = 0.02
    return_delay_days: float = 10.0
    email_interval_days: int = 14
    email_open_a: float = 1.0
    email_open_b: float = 7.0
    email_click_prob: float = 0.2
    tracked_order_share: float = 0.15
    browse_rate_ratio: float = 0.4
    abandoned_cart_prob: float = 0.35
    checkout_start_prob: float = 0.3
    lead_browse_rate_per_day: float = 0.004
    dead_activity_factor: float = 0.1

    def validate(self) -> None:
        """Raise ValueError naming the first parameter outside its valid range."""
        checks = (
            (_POSITIVE, lambda x: x > 0, "must be > 0"),
            (_NON_NEGATIVE, lambda x: x >= 0, "must be >= 0"),
            (_PROBABILITIES, lambda x: 0 <= x <= 1, "is a probability and must lie in [0, 1]"),
            (_COUNTS, lambda x: int(x) == x and x >= 1, "must be a whole number >= 1"),
        )
        for names, ok, rule in checks:
            for name in names:
                value = getattr(self, name)
                if not ok(value):
                    raise ValueError(f"SyntheticParams.{name} {rule}, got {value!r}")
        if self.lines_per_order_mean < 1:
            raise ValueError(
                "SyntheticParams.lines_per_order_mean must be >= 1 (every order has a line), "
                f"got {self.lines_per_order_mean!r}"
            )
        if self.n_categories > len(_CATEGORIES):
            raise ValueError(
                f"SyntheticParams.n_categories must be at most {len(_CATEGORIES)}, "
                f"got {self.n_categories!r}"
            )
        if self.acquisition_days is not None and not self.acquisition_days >= 1:
            raise ValueError(
                "SyntheticParams.acquisition_days must be >= 1 or None, "
                f"got {self.acquisition_days!r}"
            )


_POSITIVE = tuple(
    "r alpha a b p q v lines_per_order_mean lines_dispersion median_price signup_lead_days "
    "return_delay_days email_open_a email_open_b taste_concentration".split()
)
_NON_NEGATIVE = tuple(
    "price_sigma popularity_exponent taste_noise browse_rate_ratio lead_browse_rate_per_day".split()
)
_PROBABILITIES = tuple(
    "lead_share home_country_share signup_at_first_purchase_share opt_in_rate taste_strength "
    "repeat_purchase_prob cancellation_rate return_rate email_click_prob tracked_order_share "
    "abandoned_cart_prob checkout_start_prob dead_activity_factor".split()
)
_COUNTS = (
    "n_products",
    "n_categories",
    "n_taste_clusters",
    "max_lines_per_order",
    "email_interval_days",
)


@dataclass
class SyntheticShop:
    """The synthetic shop's tables (canonical columns and dtypes, see ``schema.py``).

    transactions: one row per order line (purchases, plus cancellation rows with order_id
        "C..." and return rows, both with negative quantity), sorted by timestamp.
    customers: one row per profile, leads included (``CUSTOMER_COLUMNS``).
    events: one row per behavioural event (``EVENT_COLUMNS``), sorted by timestamp.
    products: the catalogue (``PRODUCT_COLUMNS``).
    truth: one row per customer (leads included), ``TRUTH_COLUMNS``:
        is_lead (bool); purchase_rate_per_day (lambda, per day), dropout_probability (p),
        spend_nu (nu, 1/currency): NaN for leads; first_purchase_at (NaT for leads);
        dropout_at: time of the purchase after which the customer dropped out (NaT if still
        alive at the end of the holdout); alive_at_cutoff (bool, False for leads);
        orders_before_cutoff, orders_holdout (distinct orders), purchase_days_holdout
        (distinct purchase days, lifetimes' ``frequency_holdout``), revenue_holdout (gross,
        currency, in ``[cutoff, cutoff + holdout_days)``); taste_cluster (int) and
        email_engagement (probability of opening a campaign while alive).
    """

    transactions: pd.DataFrame
    customers: pd.DataFrame
    events: pd.DataFrame
    products: pd.DataFrame
    truth: pd.DataFrame
    seed: int = 0
    start: pd.Timestamp = field(default_factory=lambda: pd.Timestamp("2022-01-01"))
    cutoff: pd.Timestamp = field(default_factory=lambda: pd.Timestamp("2023-07-01"))
    holdout_days: int = 182
    params: SyntheticParams = field(default_factory=SyntheticParams)
    generator_version: int = GENERATOR_VERSION

    @property
    def observation_end(self) -> pd.Timestamp:
        """Last calibration day, ``cutoff - 1 day`` (lifetimes' calibration_period_end)."""
        return self.cutoff - pd.Timedelta(days=1)

    @property
    def end(self) -> pd.Timestamp:
        """End of the simulated period (exclusive): ``cutoff + holdout_days``."""
        return self.cutoff + pd.Timedelta(days=self.holdout_days)

    def metadata(self) -> dict:
        """Seed, dates and parameters as a JSON-serialisable dict."""
        return {
            "generator_version": int(self.generator_version),
            "seed": int(self.seed),
            "start": str(self.start.date()),
            "cutoff": str(self.cutoff.date()),
            "holdout_days": int(self.holdout_days),
            "params": dataclasses.asdict(self.params),
        }


# ---------------------------------------------------------------------------------------
# small vectorised helpers


def _index_dtype(n: int) -> type:
    """int32 when ``n`` elements can be addressed with it (half the memory), else int64."""
    return np.int32 if n < 2**31 - 1 else np.int64


def _group_index(counts: np.ndarray, dtype=np.int64) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For groups of sizes ``counts``: (owner of each element as ``dtype``, position within
    its group, start offset of each group)."""
    counts = np.asarray(counts, dtype=np.int64)
    starts = np.zeros(len(counts), dtype=np.int64)
    np.cumsum(counts[:-1], out=starts[1:])
    owner = np.repeat(np.arange(len(counts), dtype=dtype), counts)
    within = np.arange(owner.size, dtype=np.int64)
    within -= np.repeat(starts, counts)
    return owner, within, starts


def _numbered(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """Strings like ``C0000001`` from integers, built in Arrow (fast for millions)."""
    text = pc.cast(pa.array(np.asarray(numbers, dtype=np.int64)), pa.string())
    if width > 0:
        text = pc.utf8_lpad(text, width=width, padding="0")
    return pc.binary_join_element_wise(prefix, text, "") if prefix else text


def _arrow_strings(values) -> pa.Array:
    """Arrow ``large_string`` array (the storage of pandas' ``string`` dtype)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if not isinstance(values, pa.Array):
        values = pa.array(values, type=pa.large_string())
    return values if values.type == pa.large_string() else values.cast(pa.large_string())


def _string_series(values) -> pd.Series:
    """A pandas ``string`` Series (pyarrow storage, <NA> for missing) without extra copies."""
    return pd.Series(pd.arrays.ArrowStringArray(_arrow_strings(values)), copy=False)


def _take(table, index: np.ndarray, missing: np.ndarray | None = None) -> pd.Series:
    """``table[index]`` as a string Series; <NA> where ``missing``. Taking from a
    large_string table yields large_string directly (no cast of the big result)."""
    indices = pa.array(np.asarray(index), mask=missing)
    return _string_series(_arrow_strings(table).take(indices))


def _timestamps(start_ns: int, seconds: np.ndarray) -> np.ndarray:
    """datetime64[ns] from whole seconds after ``start``."""
    return (start_ns + seconds.astype(np.int64) * NS_PER_SECOND).view("datetime64[ns]")


class _RowSampler:
    """Draw column indices from many discrete distributions (the rows of a weight matrix)
    at once: inverse-CDF sampling with a guide table (Chen & Asau), so each draw costs one
    table look-up plus on average less than one step, instead of a binary search.

    weights: (n_rows, n_cols) non-negative, every row with a positive sum.
    """

    def __init__(self, weights: np.ndarray, guide_factor: int = 4):
        cdf = np.cumsum(weights, axis=1)
        cdf /= cdf[:, -1:]
        cdf[:, -1] = 1.0
        self.n_rows, self.n_cols = cdf.shape
        self.n_bins = guide_factor * self.n_cols
        grid = np.arange(self.n_bins) / self.n_bins
        # guide[r, k]: first column whose cdf exceeds k / n_bins
        guide = np.stack([np.searchsorted(row, grid, side="right") for row in cdf])
        self.cdf = cdf.ravel()
        self.guide = (guide + np.arange(self.n_rows)[:, None] * self.n_cols).ravel()

    def sample(self, rows: np.ndarray, rng) -> np.ndarray:
        """One column index (int64) per entry of ``rows``: P(j) = weights[row, j] / sum."""
        u = rng.random(rows.size)
        pos = self.guide[rows * self.n_bins + (u * self.n_bins).astype(np.int64)]
        todo = np.flatnonzero(self.cdf[pos] <= u)
        while todo.size:  # a few rounds over the (shrinking) set of unfinished draws
            pos[todo] += 1
            todo = todo[self.cdf[pos[todo]] <= u[todo]]
        return pos - rows * self.n_cols


def _to_days(ts: pd.Timestamp, start: pd.Timestamp) -> int:
    return int((ts - start) / pd.Timedelta(days=1))


# ---------------------------------------------------------------------------------------
# the generator


def generate_shop(
    n_customers: int,
    seed: int = 0,
    start="2022-01-01",
    cutoff="2023-07-01",
    holdout_days: int = 182,
    *,
    params: SyntheticParams | None = None,
    **overrides,
) -> SyntheticShop:
    """Generate a synthetic shop with known truth.

    Args:
        n_customers: number of profiles, leads included (``lead_share`` of them never buy).
        seed: random seed; the same seed, dates and parameters give identical tables.
        start: first day of acquisition (midnight).
        cutoff: scoring moment; first purchases fall in ``[start, cutoff)`` (or
            ``acquisition_days`` after start).
        holdout_days: length of the holdout window ``[cutoff, cutoff + holdout_days)``; the
            shop is simulated until its end.
        params: a ``SyntheticParams``; defaults to ``SyntheticParams()``.
        **overrides: any ``SyntheticParams`` field, e.g. ``r=0.5, lead_share=0.0``.

    Returns:
        SyntheticShop with ``transactions`` (with the defaults about 0.85 buyers per
        customer x 5.8 orders x 4.7 lines: 23.5M purchase lines plus 0.8M cancellation and
        return rows for 1M customers), ``customers``, ``events`` (about 10 per customer),
        ``products`` and ``truth``. 1M customers take about 45 CPU seconds and 5.5 GB peak
        memory (``benchmarks/bench_synthetic.py``).
    """
    params = _resolve_params(params, overrides)
    cal = _resolve_calendar(n_customers, start, cutoff, holdout_days, params)
    rng = _spawn_streams(seed)  # one independent stream per stage
    customers = _draw_customers(rng["customers"], params, cal.n_customers)
    orders = _simulate_orders(rng["purchases"], customers, cal)
    picks = _split_order_values(rng["spend"], params, customers.nu, orders.buyer)
    products, base_price, sampler = _make_catalogue(rng["catalogue"], params)
    pick_product = _pick_products(rng["products"], params, customers, orders, picks, sampler)
    lines = _make_lines(picks, pick_product, base_price, orders.n)
    del picks, pick_product
    outcomes = _holdout_outcomes(orders, lines, cal.cal_days)
    # tracked web sessions of orders (drawn first from the "sessions" stream)
    tracked = _tracked_sessions(
        rng["sessions"], params, orders.sec, orders.customer, lines.start, lines.n, lines.product
    )
    profiles = _draw_profiles(rng["profiles"], params, customers, orders.first_sec, cal)
    # events before the transactions are assembled: lower peak memory
    events = _shop_events(
        rng["email"],
        rng["sessions"],
        params,
        cal,
        customers,
        orders,
        profiles,
        products,
        sampler,
        tracked,
    )
    del tracked, sampler
    returns = _draw_returns(rng["returns"], params, orders.sec, lines, cal.end_sec)
    transactions = _make_transactions(cal.start_ns, orders, lines, returns, products, profiles)
    del lines, returns
    truth = _make_truth(profiles.customer_ids, customers, orders, outcomes, cal.start_ns)
    return SyntheticShop(
        transactions=transactions,
        customers=profiles.table,
        events=events,
        products=products,
        truth=truth,
        seed=int(seed),
        start=cal.start,
        cutoff=cal.cutoff,
        holdout_days=cal.holdout_days,
        params=params,
    )


# --- set-up: parameters, calendar, random streams ----------------------------------------


def _resolve_params(params: SyntheticParams | None, overrides: dict) -> SyntheticParams:
    """``params`` (default ``SyntheticParams()``) with ``overrides`` (field name -> value)
    applied and validated. Raises TypeError for an unknown field name."""
    params = params if params is not None else SyntheticParams()
    unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(SyntheticParams)})
    if unknown:
        raise TypeError(
            f"generate_shop got unknown parameter(s) {unknown}; valid ones are the fields of "
            "SyntheticParams"
        )
    params = dataclasses.replace(params, **overrides)
    params.validate()
    return params


@dataclass(frozen=True)
class _Calendar:
    """The validated size and dates of one run (times in days after ``start``).

    n_customers: profiles, leads included. start, cutoff: midnights. holdout_days: length
    of ``[cutoff, cutoff + holdout_days)``. cal_days: days from start to cutoff.
    acq_days: first purchases fall in ``[0, acq_days)``. start_ns: ``start`` in ns since
    the epoch.
    """

    n_customers: int
    start: pd.Timestamp
    cutoff: pd.Timestamp
    holdout_days: int
    cal_days: int
    acq_days: int
    start_ns: int

    @property
    def end_days(self) -> int:
        """End of the simulation (exclusive), days after start."""
        return self.cal_days + self.holdout_days

    @property
    def end_sec(self) -> int:
        """End of the simulation (exclusive), seconds after start."""
        return self.end_days * SECONDS_PER_DAY


def _resolve_calendar(n_customers, start, cutoff, holdout_days, params) -> _Calendar:
    """Check the size and dates of a run (``start``/``cutoff``: anything ``pd.Timestamp``
    accepts, normalised to midnight) and return them as a ``_Calendar``; ValueError if
    ``n_customers < 1``, ``holdout_days < 1``, cutoff not after start or
    ``params.acquisition_days`` past the cutoff."""
    n_customers = int(n_customers)
    if n_customers < 1:
        raise ValueError(f"n_customers must be >= 1, got {n_customers}")
    start_ts = pd.Timestamp(start).normalize()
    cutoff_ts = pd.Timestamp(cutoff).normalize()
    holdout_days = int(holdout_days)
    if holdout_days < 1:
        raise ValueError(f"holdout_days must be >= 1, got {holdout_days}")
    cal_days = _to_days(cutoff_ts, start_ts)
    if cal_days < 1:
        raise ValueError(f"cutoff ({cutoff_ts.date()}) must be after start ({start_ts.date()})")
    acq_days = cal_days if params.acquisition_days is None else int(params.acquisition_days)
    if acq_days > cal_days:
        raise ValueError(
            f"acquisition_days={acq_days} reaches past the cutoff ({cal_days} days after "
            "start); first purchases must fall before the cutoff"
        )
    return _Calendar(
        n_customers=n_customers,
        start=start_ts,
        cutoff=cutoff_ts,
        holdout_days=holdout_days,
        cal_days=cal_days,
        acq_days=acq_days,
        start_ns=start_ts.value,
    )


_STREAMS: tuple[str, ...] = (
    "customers",
    "purchases",
    "spend",
    "catalogue",
    "products",
    "returns",
    "profiles",
    "email",
    "sessions",
)


def _spawn_streams(seed) -> dict[str, np.random.Generator]:
    """One independent generator per stage (``_STREAMS``; the order is part of the seed
    contract), spawned from ``SeedSequence(int(seed))``."""
    children = np.random.SeedSequence(int(seed)).spawn(len(_STREAMS))
    return {name: np.random.default_rng(s) for name, s in zip(_STREAMS, children, strict=True)}


# --- customers and their purchases (BG/NBD) ------------------------------------------------


@dataclass(frozen=True)
class _Customers:
    """Latent truth per customer (shape (n_customers,)) and per buyer (shape (nb,)).

    is_lead: (n_customers,) bool. buyer_customer: (nb,) customer index of each buyer.
    lam: (nb,) purchases per day while alive. pdrop: (nb,) dropout probability after each
    repeat purchase. nu: (nb,) Gamma-Gamma spend rate (1/currency). taste: (n_customers,)
    taste cluster. engagement: (n_customers,) probability of opening a campaign.
    """

    is_lead: np.ndarray
    buyer_customer: np.ndarray
    lam: np.ndarray
    pdrop: np.ndarray
    nu: np.ndarray
    taste: np.ndarray
    engagement: np.ndarray


def _draw_customers(g, params: SyntheticParams, n_customers: int) -> _Customers:
    """Pick the leads (``lead_share`` of ``n_customers``) and draw the latent BG/NBD,
    Gamma-Gamma, taste and e-mail parameters from generator ``g``."""
    n_leads = int(round(n_customers * params.lead_share))
    is_lead = np.zeros(n_customers, dtype=bool)
    is_lead[g.permutation(n_customers)[:n_leads]] = True
    buyer_customer = np.flatnonzero(~is_lead)  # customer index of each buyer
    nb = buyer_customer.size
    return _Customers(
        is_lead=is_lead,
        buyer_customer=buyer_customer,
        lam=g.gamma(params.r, 1.0 / params.alpha, nb),
        pdrop=np.clip(g.beta(params.a, params.b, nb), 1e-12, 1.0),
        nu=g.gamma(params.q, 1.0 / params.v, nb),
        taste=g.integers(0, params.n_taste_clusters, n_customers),
        engagement=g.beta(params.email_open_a, params.email_open_b, n_customers),
    )


@dataclass(frozen=True)
class _Orders:
    """The orders, grouped by buyer and in time order within a buyer (n = n_orders).

    buyer: (n,) buyer index. start: (nb,) index of each buyer's first order. day: (n,)
    int32 day after start. sec: (n,) int64 second after start. customer: (n,) customer
    index. dropped: (nb,) bool, dropped out before the end. dropout_sec: (nb,) second of
    the purchase after which the buyer dropped out, -1 if not. alive_at_cutoff: (nb,) bool.
    """

    buyer: np.ndarray
    start: np.ndarray
    day: np.ndarray
    sec: np.ndarray
    customer: np.ndarray
    dropped: np.ndarray
    dropout_sec: np.ndarray
    alive_at_cutoff: np.ndarray

    @property
    def n(self) -> int:
        """Number of orders."""
        return self.buyer.size

    @property
    def first_sec(self) -> np.ndarray:
        """(nb,) second of each buyer's first purchase."""
        return self.sec[self.start]


def _simulate_orders(g, customers: _Customers, cal: _Calendar) -> _Orders:
    """BG/NBD purchasing from generator ``g``: a first purchase uniform in
    ``[0, acq_days)``, then a Poisson process with rate ``lam`` (per day) until dropout
    (geometric in the repeat purchases, probability ``pdrop``) or ``end_days``."""
    nb = customers.buyer_customer.size
    t0 = cal.acq_days * g.random(nb)  # first purchase, days after start
    horizon = cal.end_days - t0
    n_poisson = g.poisson(customers.lam * horizon)  # purchases of an immortal customer
    n_until_drop = g.geometric(customers.pdrop)  # the repeat purchase after which it drops
    n_repeat = np.minimum(n_poisson, n_until_drop)
    dropped = n_until_drop <= n_poisson
    repeat_t = _repeat_purchase_times(g, t0, horizon, n_poisson, n_repeat)
    return _order_times(t0, repeat_t, n_repeat, dropped, customers.buyer_customer, cal)


def _repeat_purchase_times(g, t0, horizon, n_poisson, n_repeat) -> np.ndarray:
    """Times (days after start, float, grouped by buyer and increasing) of the repeat
    purchases: per buyer the first ``n_repeat`` of ``n_poisson`` uniform order statistics
    on ``[t0, t0 + horizon)`` (all inputs (nb,)), via
    ``1 - U_(j) = prod_{m<=j} V_m ** (1 / (N - m + 1))``. One draw per repeat purchase."""
    owner, within, _ = _group_index(n_repeat)
    log_v = np.log1p(-g.random(owner.size)) / (n_poisson[owner] - within)
    csum = np.cumsum(log_v)
    base = np.concatenate(([0.0], csum))[np.repeat(np.cumsum(n_repeat) - n_repeat, n_repeat)]
    return t0[owner] - horizon[owner] * np.expm1(csum - base)


def _order_times(t0, repeat_t, n_repeat, dropped, buyer_customer, cal: _Calendar) -> _Orders:
    """Assemble the orders from first purchase times ``t0`` (nb,), repeat purchase times
    ``repeat_t`` (days, grouped by buyer) and ``n_repeat`` (nb,): day and second (shop
    hours 07:00-22:00, order within the day preserved), dropout second and survival."""
    n_orders_b = 1 + n_repeat
    order_buyer, order_pos, order_start = _group_index(n_orders_b)
    order_t = np.empty(order_buyer.size)
    first = order_pos == 0
    order_t[first] = t0
    order_t[~first] = repeat_t
    order_t = np.minimum(order_t, np.nextafter(cal.end_days, 0))
    order_day = np.floor(order_t).astype(np.int32)
    order_sec = order_day.astype(np.int64) * SECONDS_PER_DAY + (
        7 * 3600 + np.floor((order_t - order_day) * 15 * 3600)
    ).astype(np.int64)
    last_order = order_start + n_orders_b - 1
    return _Orders(
        buyer=order_buyer,
        start=order_start,
        day=order_day,
        sec=order_sec,
        customer=buyer_customer[order_buyer],
        dropped=dropped,
        dropout_sec=np.where(dropped, order_sec[last_order], -1),
        alive_at_cutoff=~(dropped & (order_day[last_order] < cal.cal_days)),
    )


# --- spend (Gamma-Gamma) and products -------------------------------------------------------


@dataclass(frozen=True)
class _Picks:
    """Product picks of the orders (n = picks, grouped by order).

    order: (n,) order of each pick (int32 when it fits, else int64). start: (n_orders,)
    index of each order's first pick. cents: (n,) int64 value of each pick in cents.
    """

    order: np.ndarray
    start: np.ndarray
    cents: np.ndarray


def _split_order_values(g, params: SyntheticParams, nu, order_buyer) -> _Picks:
    """Gamma-Gamma order values (shape ``p``, rate ``nu`` (nb,) of the order's buyer;
    rounded to cents, at least one cent per pick) split over 1..max_lines_per_order
    picks per order. ``order_buyer``: (n_orders,) buyer index."""
    n_orders = order_buyer.size
    order_value = g.standard_gamma(params.p, n_orders) / nu[order_buyer]
    n_picks = _picks_per_order(g, params, n_orders)
    order_cents = np.maximum(np.round(order_value * 100).astype(np.int64), n_picks)
    del order_value
    return _split_cents(g, order_cents, n_picks)


def _picks_per_order(g, params: SyntheticParams, n_orders: int) -> np.ndarray:
    """(n_orders,) int64 picks per order: 1 + negative binomial (mean
    ``lines_per_order_mean - 1``, dispersion ``lines_dispersion``), capped at
    ``max_lines_per_order``."""
    disp = params.lines_dispersion
    extra_mean = params.lines_per_order_mean - 1.0
    if extra_mean > 0:
        extra = g.negative_binomial(disp, disp / (disp + extra_mean), n_orders)
    else:
        extra = np.zeros(n_orders, dtype=np.int64)
    return (1 + np.minimum(extra, params.max_lines_per_order - 1)).astype(np.int64)


def _split_cents(g, order_cents: np.ndarray, n_picks: np.ndarray) -> _Picks:
    """Split each order's value ``order_cents`` (n_orders,) over its ``n_picks`` picks
    with exponential weights: every pick gets at least one cent and the picks of an order
    sum exactly to its value (the rounding rest goes to the first pick)."""
    n_orders = order_cents.size
    pick_order, _, pick_start = _group_index(n_picks, _index_dtype(int(n_picks.sum())))
    weight = g.standard_exponential(pick_order.size)
    weight /= np.bincount(pick_order, weights=weight, minlength=n_orders)[pick_order]
    weight *= (order_cents - n_picks)[pick_order]
    pick_cents = 1 + np.floor(weight).astype(np.int64)
    del weight
    assigned = np.bincount(pick_order, weights=pick_cents, minlength=n_orders).astype(np.int64)
    pick_cents[pick_start] += order_cents - assigned
    return _Picks(order=pick_order, start=pick_start, cents=pick_cents)


def _make_catalogue(g, params: SyntheticParams) -> tuple[pd.DataFrame, np.ndarray, _RowSampler]:
    """The catalogue from generator ``g``: (products table, base_price (n_products,)
    currency, sampler over products whose rows 0..K-1 are the taste clusters' product
    weights and row K global (Zipf-like) popularity)."""
    n_products = int(params.n_products)
    category_names = np.array(list(_CATEGORIES)[: params.n_categories])
    category_weight = g.dirichlet(np.full(category_names.size, 5.0))
    product_category = g.choice(category_names.size, n_products, p=category_weight)
    log_price = np.log(params.median_price) + params.price_sigma * g.standard_normal(n_products)
    base_price = np.maximum(np.round(np.exp(log_price), 2), 0.1)
    popularity = 1.0 / (1.0 + g.permutation(n_products)) ** params.popularity_exponent
    category_pref = g.dirichlet(
        np.full(category_names.size, params.taste_concentration), params.n_taste_clusters
    )
    noise = np.exp(params.taste_noise * g.standard_normal((params.n_taste_clusters, n_products)))
    cluster_weight = popularity[None, :] * category_pref[:, product_category] * noise + 1e-12
    sampler = _RowSampler(np.vstack([cluster_weight, popularity[None, :]]))
    del noise, cluster_weight
    products = _make_products(g, n_products, product_category, category_names, base_price)
    return products, base_price, sampler


def _taste_products(g, params: SyntheticParams, taste: np.ndarray, sampler: _RowSampler):
    """(n,) int64 product index per entry of ``taste`` (n,): from the taste cluster with
    probability ``taste_strength``, else from global popularity."""
    row = np.where(g.random(taste.size) < params.taste_strength, taste, params.n_taste_clusters)
    return sampler.sample(row, g)


def _pick_products(g, params, customers: _Customers, orders: _Orders, picks: _Picks, sampler):
    """(n_picks,) int32 product of every pick: a fresh taste-driven product, or (with
    ``repeat_purchase_prob``) the product of a uniformly chosen pick of one of the buyer's
    earlier orders (followed through chains of re-buys)."""
    pick_buyer = orders.buyer[picks.order]
    pick_taste = customers.taste[customers.buyer_customer[pick_buyer]]
    fresh = _taste_products(g, params, pick_taste, sampler).astype(np.int32)
    del pick_taste
    pointer = _rebuy_pointers(g, params, picks, pick_buyer, orders.start)
    del pick_buyer
    return fresh[_follow_pointers(pointer)]


def _rebuy_pointers(g, params, picks: _Picks, pick_buyer, order_start) -> np.ndarray:
    """(n_picks,) pick whose product each pick copies (itself for a fresh pick), same
    dtype as ``picks.order``; ``pick_buyer`` (n_picks,), ``order_start`` (nb,)."""
    n_picks = picks.order.size
    buyer_first_pick = picks.start[order_start]
    earlier = picks.start[picks.order] - buyer_first_pick[pick_buyer]  # picks in earlier orders
    rebuy = np.flatnonzero((earlier > 0) & (g.random(n_picks) < params.repeat_purchase_prob))
    pointer = np.arange(n_picks, dtype=picks.order.dtype)
    pointer[rebuy] = buyer_first_pick[pick_buyer[rebuy]] + np.floor(
        g.random(rebuy.size) * earlier[rebuy]
    ).astype(np.int64)
    return pointer


def _follow_pointers(pointer: np.ndarray) -> np.ndarray:
    """Pointer jumping: the root (a pick pointing to itself) of every pick's chain;
    ``pointer`` (n,) always points to an earlier or the same index."""
    while True:
        nxt = pointer[pointer]
        if np.array_equal(nxt, pointer):
            return pointer
        pointer = nxt


@dataclass(frozen=True)
class _Lines:
    """Order lines (n = lines, grouped by order, sorted by product within an order).

    order: (n,) order index. product: (n,) int32 product index. start, n: (n_orders,)
    first line and line count of each order. quantity: (n,) float64 items.
    unit_price: (n,) float64 currency. index_dtype: int32 or int64, enough for the picks.
    """

    order: np.ndarray
    product: np.ndarray
    start: np.ndarray
    n: np.ndarray
    quantity: np.ndarray
    unit_price: np.ndarray
    index_dtype: np.dtype


def _make_lines(picks: _Picks, pick_product, base_price, n_orders: int) -> _Lines:
    """Merge picks of one product within an order into a line; quantity is the line value
    over ``base_price`` (n_products,) rounded to 1..10000, unit_price = value / quantity."""
    line_order, line_product, line_cents = _merge_same_product(
        picks.order, pick_product, picks.cents, base_price.size
    )
    n_lines = np.bincount(line_order, minlength=n_orders)
    quantity = np.clip(np.round(line_cents / 100.0 / base_price[line_product]), 1, 10_000)
    return _Lines(
        order=line_order,
        product=line_product,
        start=np.cumsum(n_lines) - n_lines,
        n=n_lines,
        quantity=quantity,
        unit_price=line_cents / quantity / 100.0,
        index_dtype=picks.order.dtype,
    )


def _holdout_outcomes(orders: _Orders, lines: _Lines, cal_days: int) -> dict[str, np.ndarray]:
    """Per buyer (nb,), keyed by truth column: orders_before_cutoff, orders_holdout,
    purchase_days_holdout (distinct days) and revenue_holdout (gross, currency) for
    orders before / from day ``cal_days``."""
    nb = orders.start.size
    holdout_line = np.flatnonzero(orders.day[lines.order] >= cal_days)
    revenue_holdout = np.bincount(
        orders.buyer[lines.order[holdout_line]],
        weights=lines.quantity[holdout_line] * lines.unit_price[holdout_line],
        minlength=nb,
    )
    del holdout_line
    buyer, day = orders.buyer, orders.day
    before = day < cal_days
    new_day = np.ones(orders.n, dtype=bool)
    new_day[1:] = (buyer[1:] != buyer[:-1]) | (day[1:] != day[:-1])
    return {
        "orders_before_cutoff": np.bincount(buyer[before], minlength=nb),
        "orders_holdout": np.bincount(buyer[~before], minlength=nb),
        "purchase_days_holdout": np.bincount(buyer[new_day & ~before], minlength=nb),
        "revenue_holdout": revenue_holdout,
    }


# --- profiles and events ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Profiles:
    """Customer profiles. table: the customers table. customer_ids: Arrow strings
    (n_customers,). country: (n_customers,) int64 index into country_names (Arrow
    strings). signup_sec: (n_customers,) int64 seconds after start. opt_in: (n_customers,)
    bool e-mail opt-in."""

    table: pd.DataFrame
    customer_ids: pa.Array
    country: np.ndarray
    country_names: pa.Array
    signup_sec: np.ndarray
    opt_in: np.ndarray


def _draw_profiles(g, params, customers: _Customers, first_sec, cal: _Calendar) -> _Profiles:
    """Profiles from generator ``g``: ids ``C0000001``.., countries, signup times (buyers
    relative to their first purchase ``first_sec`` (nb,), seconds after start), opt-ins."""
    n_customers = cal.n_customers
    id_width = max(7, len(str(n_customers)))
    customer_ids = _arrow_strings(_numbered("C", np.arange(1, n_customers + 1), id_width))
    country = _countries(g, n_customers, params.home_country_share)
    country_names = _arrow_strings(pa.array(_COUNTRIES))
    signup_sec = _signup_seconds(g, params, customers, first_sec, cal)
    opt_in = g.random(n_customers) < params.opt_in_rate
    table = _make_profiles(
        g, customer_ids, country, country_names, opt_in, cal.start_ns, signup_sec
    )
    return _Profiles(table, customer_ids, country, country_names, signup_sec, opt_in)


def _signup_seconds(g, params, customers: _Customers, first_sec, cal: _Calendar) -> np.ndarray:
    """(n_customers,) int64 signup second after start: buyers sign up at checkout (1-15
    minutes before the first purchase) or an exponential time earlier; leads uniformly
    in ``[0, end_sec)``."""
    nb = customers.buyer_customer.size
    signup_sec = np.empty(cal.n_customers, dtype=np.int64)
    at_checkout = g.random(nb) < params.signup_at_first_purchase_share
    earlier_signup = np.ceil(g.exponential(params.signup_lead_days * SECONDS_PER_DAY, nb))
    signup_sec[customers.buyer_customer] = first_sec - np.where(
        at_checkout, g.integers(60, 900, nb), earlier_signup.astype(np.int64)
    )
    lead_idx = np.flatnonzero(customers.is_lead)
    signup_sec[lead_idx] = np.floor(g.random(lead_idx.size) * cal.end_sec).astype(np.int64)
    return signup_sec


def _shop_events(
    g_email,
    g_sessions,
    params,
    cal: _Calendar,
    customers: _Customers,
    orders: _Orders,
    profiles: _Profiles,
    products: pd.DataFrame,
    sampler: _RowSampler,
    tracked: dict[str, np.ndarray],
) -> pd.DataFrame:
    """The events table (``EVENT_COLUMNS``): a customer's activity is "alive" from signup
    until dropout (leads and surviving buyers: until ``end_sec``), browse sessions at
    ``browse_rate_ratio * lam`` per day (leads: ``lead_browse_rate_per_day``)."""
    end_sec = cal.end_sec
    buyer_customer = customers.buyer_customer
    dead_from = np.full(cal.n_customers, float(end_sec))
    dead_from[buyer_customer] = np.where(orders.dropped, orders.dropout_sec, end_sec)
    browse_rate = np.full(cal.n_customers, params.lead_browse_rate_per_day)
    browse_rate[buyer_customer] = params.browse_rate_ratio * customers.lam
    events = _make_events(
        g_email,
        g_sessions,
        params,
        end_sec=end_sec,
        start_ns=cal.start_ns,
        customer_ids=profiles.customer_ids,
        product_ids=products["product_id"].array,
        signup_sec=profiles.signup_sec.astype(np.float64),
        dead_from=dead_from,
        opt_in=profiles.opt_in,
        engagement=customers.engagement,
        browse_rate=browse_rate,
        taste=customers.taste,
        sampler=sampler,
        tracked=tracked,
    )
    assert tuple(events.columns) == EVENT_COLUMNS
    return events


# --- cancellations, returns and the transactions table ---------------------------------------


@dataclass(frozen=True)
class _Returns:
    """Cancellations and returns. cancelled: (n_orders,) bool. cancel_lines: lines of
    cancelled orders; cancel_sec: their cancellation second. return_doc_sec: (n_orders,)
    second of each order's credit note. return_lines: returned lines; return_qty: their
    (negative, float64) returned quantity. Seconds are after start."""

    cancelled: np.ndarray
    cancel_lines: np.ndarray
    cancel_sec: np.ndarray
    return_doc_sec: np.ndarray
    return_lines: np.ndarray
    return_qty: np.ndarray


def _draw_returns(g, params, order_sec, lines: _Lines, end_sec: int) -> _Returns:
    """Cancel whole orders (``cancellation_rate``, a few hours later, before ``end_sec``)
    and return part of a line's quantity (``return_rate``, not for cancelled orders, only
    if the credit note falls before ``end_sec``); ``order_sec``: (n_orders,)."""
    n_orders = order_sec.size
    line_order = lines.order
    cancelled = g.random(n_orders) < params.cancellation_rate
    cancel_delay = np.ceil(g.exponential(3 * 3600, n_orders)).astype(np.int64) + 60
    cancel_lines = np.flatnonzero(cancelled[line_order])
    cancel_sec = np.minimum((order_sec + cancel_delay)[line_order[cancel_lines]], end_sec - 1)
    delay = np.ceil(g.exponential(params.return_delay_days * SECONDS_PER_DAY, n_orders))
    return_doc_sec = order_sec + delay.astype(np.int64) + SECONDS_PER_DAY
    del cancel_delay, delay
    returned = g.random(line_order.size) < params.return_rate
    returned &= ~cancelled[line_order]
    returned &= return_doc_sec[line_order] < end_sec
    return_lines = np.flatnonzero(returned)
    del returned
    return_qty = -g.integers(1, lines.quantity[return_lines].astype(np.int64) + 1).astype(
        np.float64
    )
    return _Returns(cancelled, cancel_lines, cancel_sec, return_doc_sec, return_lines, return_qty)


def _document_ids(order_sec, line_order, returns: _Returns):
    """Order numbers: purchase orders and credit notes share one chronological sequence
    from 100000; cancellations are "C" + the order's number. Returns (doc_strings: Arrow
    strings, purchases 0..n_orders-1 then credit notes then cancellations; return_slot,
    cancel_slot: (n_orders,) int64 document index of each order's credit note /
    cancellation, 0 where none)."""
    n_orders = order_sec.size
    return_docs = np.unique(line_order[returns.return_lines])
    doc_sec = np.concatenate([order_sec, returns.return_doc_sec[return_docs]])
    doc_rank = np.empty(doc_sec.size, dtype=np.int64)
    doc_rank[np.argsort(doc_sec, kind="stable")] = np.arange(doc_sec.size)
    cancel_orders = np.flatnonzero(returns.cancelled)
    order_strings = _numbered("", 100_000 + doc_rank[:n_orders], 0)
    doc_strings = pa.concat_arrays(
        [
            order_strings,
            _numbered("", 100_000 + doc_rank[n_orders:], 0),
            pc.binary_join_element_wise("C", order_strings.take(pa.array(cancel_orders)), ""),
        ]
    )
    return_slot = np.zeros(n_orders, dtype=np.int64)
    return_slot[return_docs] = n_orders + np.arange(return_docs.size)
    cancel_slot = np.zeros(n_orders, dtype=np.int64)
    cancel_slot[cancel_orders] = n_orders + return_docs.size + np.arange(cancel_orders.size)
    return doc_strings, return_slot, cancel_slot


def _extra_rows(lines: _Lines, returns: _Returns):
    """Cancellation and return rows in time order (stable): (line index, second after
    start, kind 1=cancellation / 2=return as int8, negative quantity), each (n_extra,)."""
    cancel_lines, return_lines = returns.cancel_lines, returns.return_lines
    extra_lines = np.concatenate([cancel_lines, return_lines])
    extra_sec = np.concatenate(
        [returns.cancel_sec, returns.return_doc_sec[lines.order[return_lines]]]
    )
    extra_kind = np.repeat(np.array([1, 2], dtype=np.int8), [cancel_lines.size, return_lines.size])
    extra_qty = np.concatenate([-lines.quantity[cancel_lines], returns.return_qty])
    by_time = np.argsort(extra_sec, kind="stable")
    return extra_lines[by_time], extra_sec[by_time], extra_kind[by_time], extra_qty[by_time]


def _transaction_rows(start_ns: int, order_sec, lines: _Lines, returns: _Returns):
    """Row layout of the transactions table: purchase lines in order-time order with the
    extra rows merged in after purchases of the same second. Returns (src_line: (n_rows,)
    line of each row; timestamp: (n_rows,) datetime64[ns]; slot: (n_extra,) rows of the
    extras; extra_kind, extra_qty: (n_extra,) as from ``_extra_rows``)."""
    order_by_time = np.argsort(order_sec, kind="stable")
    _, offset, _ = _group_index(lines.n[order_by_time])
    purchase_rows = np.repeat(lines.start[order_by_time], lines.n[order_by_time])
    purchase_rows += offset
    del offset, order_by_time
    purchase_sec = order_sec[lines.order[purchase_rows]]
    extra_lines, extra_sec, extra_kind, extra_qty = _extra_rows(lines, returns)
    slot = np.searchsorted(purchase_sec, extra_sec, side="right") + np.arange(extra_sec.size)
    n_rows = purchase_rows.size + extra_lines.size
    is_purchase = np.ones(n_rows, dtype=bool)
    is_purchase[slot] = False
    src_line = np.empty(n_rows, dtype=lines.index_dtype)
    src_line[is_purchase] = purchase_rows
    src_line[slot] = extra_lines
    del purchase_rows
    row_sec = np.empty(n_rows, dtype=np.int64)
    row_sec[is_purchase] = purchase_sec
    row_sec[slot] = extra_sec
    del purchase_sec, is_purchase, extra_sec, extra_lines
    return src_line, _timestamps(start_ns, row_sec), slot, extra_kind, extra_qty


def _make_transactions(
    start_ns,
    orders: _Orders,
    lines: _Lines,
    returns: _Returns,
    products: pd.DataFrame,
    profiles: _Profiles,
) -> pd.DataFrame:
    """The transactions table (``TRANSACTION_COLUMNS``): purchase lines plus cancellation
    ("C" order ids) and return rows with negative quantity, sorted by timestamp."""
    doc_strings, return_slot, cancel_slot = _document_ids(orders.sec, lines.order, returns)
    src_line, timestamp, slot, extra_kind, extra_qty = _transaction_rows(
        start_ns, orders.sec, lines, returns
    )
    row_qty = lines.quantity[src_line]
    row_qty[slot] = extra_qty
    row_price = lines.unit_price[src_line]
    row_product = lines.product[src_line]
    product_id = _take(products["product_id"].array, row_product)
    product_name = _take(products["product_name"].array, row_product)
    del row_product
    row_order = lines.order[src_line]
    del src_line
    row_doc = row_order.astype(np.int64)
    for code, slots in ((1, cancel_slot), (2, return_slot)):
        rows = slot[extra_kind == code]
        row_doc[rows] = slots[row_order[rows]]
    order_id = _take(doc_strings, row_doc)
    del row_doc, doc_strings
    row_customer = orders.customer[row_order]
    del row_order
    transactions = pd.DataFrame(
        {
            "customer_id": _take(profiles.customer_ids, row_customer),
            "order_id": order_id,
            "timestamp": timestamp,
            "product_id": product_id,
            "product_name": product_name,
            "quantity": row_qty,
            "unit_price": row_price,
            "amount": row_qty * row_price,
            "country": _take(profiles.country_names, profiles.country[row_customer]),
        },
        copy=False,
    )
    assert tuple(transactions.columns) == TRANSACTION_COLUMNS
    return transactions


# --- truth ----------------------------------------------------------------------------------


def _make_truth(
    customer_ids,
    customers: _Customers,
    orders: _Orders,
    outcomes: dict[str, np.ndarray],
    start_ns: int,
) -> pd.DataFrame:
    """The truth table (``TRUTH_COLUMNS``, one row per customer): latent parameters,
    first purchase, dropout and holdout ``outcomes`` (per buyer, from
    ``_holdout_outcomes``); leads get NaN / NaT / False / 0."""
    n_customers = customers.is_lead.size

    def per_customer(values, fill, dtype):
        out = np.full(n_customers, fill, dtype=dtype)
        out[customers.buyer_customer] = values
        return out

    nat = np.datetime64("NaT", "ns")
    dropped = orders.dropped
    dropout = np.where(dropped, _timestamps(start_ns, np.maximum(orders.dropout_sec, 0)), nat)
    return pd.DataFrame(
        {
            "customer_id": _string_series(customer_ids),
            "is_lead": customers.is_lead,
            "purchase_rate_per_day": per_customer(customers.lam, np.nan, np.float64),
            "dropout_probability": per_customer(customers.pdrop, np.nan, np.float64),
            "spend_nu": per_customer(customers.nu, np.nan, np.float64),
            "first_purchase_at": per_customer(
                _timestamps(start_ns, orders.first_sec), nat, "datetime64[ns]"
            ),
            "dropout_at": per_customer(dropout, nat, "datetime64[ns]"),
            "alive_at_cutoff": per_customer(orders.alive_at_cutoff, False, bool),
            "orders_before_cutoff": per_customer(outcomes["orders_before_cutoff"], 0, np.int64),
            "orders_holdout": per_customer(outcomes["orders_holdout"], 0, np.int64),
            "purchase_days_holdout": per_customer(outcomes["purchase_days_holdout"], 0, np.int64),
            "revenue_holdout": per_customer(outcomes["revenue_holdout"], 0.0, np.float64),
            "taste_cluster": customers.taste.astype(np.int64),
            "email_engagement": customers.engagement,
        },
        copy=False,
    )


def _merge_same_product(
    line_order: np.ndarray, line_product: np.ndarray, line_cents: np.ndarray, n_products: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merge picks of the same product within an order into one line (values in cents
    added), so no order lists a product twice and the cleaning rules never see duplicate
    rows. Input and output lines are grouped by order; within an order the merged lines
    are sorted by product. Returns (line_order, line_product, line_cents)."""
    key = line_order.astype(np.int64) * n_products + line_product
    by_key = np.argsort(key, kind="stable")  # lines are already grouped by order: fast
    sorted_key = key[by_key]
    first = np.ones(key.size, dtype=bool)
    first[1:] = sorted_key[1:] != sorted_key[:-1]
    group = np.cumsum(first) - 1
    cents = np.bincount(group, weights=line_cents[by_key]).astype(np.int64)  # exact < 2**53
    kept = by_key[first]
    return line_order[kept], line_product[kept], cents


def _countries(g, n: int, home_share: float) -> np.ndarray:
    """Country index per customer: ``home_share`` in the first country, Zipf for the rest."""
    rest = 1.0 / np.arange(1, len(_COUNTRIES))
    probs = np.concatenate(([home_share], (1 - home_share) * rest / rest.sum()))
    return g.choice(len(_COUNTRIES), n, p=probs).astype(np.int64)


def _make_products(g, n_products, product_category, category_names, base_price) -> pd.DataFrame:
    """The catalogue: product_id, product_name (unique), category, base_price."""
    nouns_per_cat = [np.array(_CATEGORIES[c]) for c in category_names]
    noun_idx = g.integers(0, 1 << 30, n_products)
    nouns = np.empty(n_products, dtype=object)
    for c, choices in enumerate(nouns_per_cat):  # loop over categories (at most 12)
        mask = product_category == c
        nouns[mask] = choices[noun_idx[mask] % choices.size]
    colours = np.array(_COLOURS)[g.integers(0, len(_COLOURS), n_products)]
    patterns = np.array(_PATTERNS)[g.integers(0, len(_PATTERNS), n_products)]
    names = (
        pd.Series(colours, dtype="string")
        + " "
        + pd.Series(patterns, dtype="string")
        + " "
        + pd.Series(nouns, dtype="string")
    )
    variant = names.groupby(names).cumcount()
    names = names.where(variant == 0, names + " No. " + (variant + 1).astype("string"))
    width = max(5, len(str(n_products)))
    return pd.DataFrame(
        {
            "product_id": _string_series(_numbered("P", np.arange(1, n_products + 1), width)),
            "product_name": names.astype("string"),
            "category": pd.Series(category_names[product_category], dtype="string"),
            "base_price": base_price.astype(np.float64),
        }
    )


def _make_profiles(g, customer_ids, country, country_names, opt_in, start_ns, signup_sec):
    """Customer profiles with invented names and example.* e-mail addresses."""
    n = len(customer_ids)
    gender = g.choice(3, n, p=[0.52, 0.45, 0.03])  # F, M, unknown
    n_f, n_m = len(_FEMALE_NAMES), len(_MALE_NAMES)
    first_pool = _arrow_strings(_FEMALE_NAMES + _MALE_NAMES)
    first_idx = np.where(gender == 1, n_f + g.integers(0, n_m, n), g.integers(0, n_f, n))
    first_idx = np.where(gender == 2, g.integers(0, n_f + n_m, n), first_idx)
    first = first_pool.take(pa.array(first_idx))
    last = _arrow_strings(_LAST_NAMES).take(pa.array(g.integers(0, len(_LAST_NAMES), n)))
    domain = _arrow_strings(_EMAIL_DOMAINS).take(pa.array(g.integers(0, len(_EMAIL_DOMAINS), n)))
    number = pc.utf8_slice_codeunits(_arrow_strings(customer_ids), 1)
    dot, at = pa.scalar(".", pa.large_string()), pa.scalar("@", pa.large_string())
    local = pc.binary_join_element_wise(
        pc.utf8_lower(first), pc.utf8_lower(pc.replace_substring(last, " ", "")), number, dot
    )
    email = pc.binary_join_element_wise(local, domain, at)
    gender_text = _arrow_strings(["F", "M", None]).take(pa.array(gender))
    return pd.DataFrame(
        {
            "customer_id": _string_series(customer_ids),
            "email": _string_series(email),
            "first_name": _string_series(first),
            "last_name": _string_series(last),
            "gender": _string_series(gender_text),
            "country": _take(country_names, country),
            "signup_at": _timestamps(start_ns, signup_sec),
            "email_opt_in": pd.array(opt_in, dtype="boolean"),
        },
        copy=False,
    )[list(CUSTOMER_COLUMNS)]


def _tracked_sessions(
    g, params, order_sec, order_customer, line_start, n_lines, line_product
) -> dict[str, np.ndarray]:
    """Orders whose web session is tracked: customer, one product of the order, order time."""
    tracked = np.flatnonzero(g.random(order_sec.size) < params.tracked_order_share)
    pick = np.floor(g.random(tracked.size) * n_lines[tracked]).astype(np.int64)
    return {
        "customer": order_customer[tracked],
        "product": line_product[line_start[tracked] + pick],
        "sec": order_sec[tracked],
    }


def _make_events(
    g_email,
    g,
    params,
    *,
    end_sec: int,
    start_ns: int,
    customer_ids: pa.Array,
    product_ids,
    signup_sec: np.ndarray,
    dead_from: np.ndarray,
    opt_in: np.ndarray,
    engagement: np.ndarray,
    browse_rate: np.ndarray,
    taste: np.ndarray,
    sampler: _RowSampler,
    tracked: dict[str, np.ndarray],
) -> pd.DataFrame:
    """E-mail opens/clicks, tracked purchase sessions and browse sessions (abandoned carts).

    Per-customer arrays have shape (n_customers,); times are seconds after ``start``.
    ``browse_rate`` is browse sessions per day while alive; ``dead_from`` the second from
    which activity drops to ``dead_activity_factor``. Returns the events table sorted by
    timestamp, without exact duplicate rows.
    """
    n_customers = signup_sec.size
    parts = _EventParts(n_customers)
    _add_email_events(parts, g_email, params, end_sec, signup_sec, dead_from, opt_in, engagement)
    _add_purchase_sessions(parts, g, tracked)
    _add_browse_sessions(
        parts, g, params, end_sec, signup_sec, dead_from, browse_rate, taste, sampler
    )
    e_cust, e_sec, e_type, e_prod = _sorted_unique_events(*parts.concat(), n_customers, end_sec)
    return pd.DataFrame(
        {
            "customer_id": _take(customer_ids, e_cust),
            "timestamp": _timestamps(start_ns, e_sec),
            "event_type": _take(pa.array(EVENT_TYPES), e_type),
            "product_id": _take(product_ids, np.maximum(e_prod, 0), missing=e_prod < 0),
        },
        copy=False,
    )


class _EventParts:
    """Collects events in chunks: customer index (int32 when it fits), second after start
    (int64), event type code (int8, index into ``EVENT_TYPES``), product index (int32, -1
    for none)."""

    def __init__(self, n_customers: int):
        self.cust_dtype = _index_dtype(n_customers)
        self.cust: list[np.ndarray] = []
        self.sec: list[np.ndarray] = []
        self.type: list[np.ndarray] = []
        self.prod: list[np.ndarray] = []

    def add(self, cust, sec, etype: str, prod=None) -> None:
        """Append events of type ``etype`` for customers ``cust`` at seconds ``sec`` (same
        length), with products ``prod`` or none."""
        self.cust.append(np.asarray(cust, dtype=self.cust_dtype))
        self.sec.append(np.asarray(sec, dtype=np.int64))
        self.type.append(np.full(len(cust), EVENT_TYPES.index(etype), dtype=np.int8))
        self.prod.append(
            np.full(len(cust), -1, dtype=np.int32) if prod is None else np.asarray(prod, np.int32)
        )

    def concat(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """All events so far as (cust, sec, type, prod) arrays; empties the collector."""
        out = tuple(np.concatenate(p) for p in (self.cust, self.sec, self.type, self.prod))
        for parts in (self.cust, self.sec, self.type, self.prod):
            parts.clear()
        return out


def _add_email_events(parts, g, params, end_sec, signup_sec, dead_from, opt_in, engagement):
    """E-mail campaigns every ``email_interval_days`` at 10:00 (a loop over campaigns, not
    customers): signed-up opted-in customers open with probability ``engagement`` (times
    ``dead_activity_factor`` after ``dead_from``) after ~6 h, and click with
    ``email_click_prob`` after ~2 min; events at or after ``end_sec`` are dropped."""
    opted = np.flatnonzero(opt_in)
    interval = int(params.email_interval_days) * SECONDS_PER_DAY
    for campaign_sec in range(10 * 3600, end_sec, interval):
        eligible = opted[signup_sec[opted] <= campaign_sec]
        prob = engagement[eligible] * np.where(
            dead_from[eligible] <= campaign_sec, params.dead_activity_factor, 1.0
        )
        opener = eligible[g.random(eligible.size) < prob]
        open_sec = campaign_sec + np.ceil(g.exponential(6 * 3600, opener.size))
        keep = open_sec < end_sec
        opener, open_sec = opener[keep], open_sec[keep]
        parts.add(opener, open_sec, "email_open")
        clicked = g.random(opener.size) < params.email_click_prob
        click_sec = open_sec[clicked] + np.ceil(g.exponential(120, int(clicked.sum())))
        keep = click_sec < end_sec
        parts.add(opener[clicked][keep], click_sec[keep], "email_click")


def _add_purchase_sessions(parts, g, tracked: dict[str, np.ndarray]) -> None:
    """Visit, view, cart and checkout shortly (30 s + ~4 min each) before each tracked
    order (``tracked``: customer, product, sec arrays as from ``_tracked_sessions``)."""
    t_cust, t_prod, t_sec = tracked["customer"], tracked["product"], tracked["sec"]
    gaps = np.ceil(g.exponential(240, (4, t_sec.size))).astype(np.int64) + 30
    checkout = t_sec - gaps[3]
    cart = checkout - gaps[2]
    view = cart - gaps[1]
    visit = view - gaps[0]
    parts.add(t_cust, visit, "site_visit")
    parts.add(t_cust, view, "product_view", t_prod)
    parts.add(t_cust, cart, "cart_add", t_prod)
    parts.add(t_cust, checkout, "checkout_start")


def _browse_visits(g, params, end_sec, signup_sec, dead_from, rate):
    """Browse-session starts: Poisson with ``rate`` (n_customers,) per day from signup to
    ``dead_from``, ``rate * dead_activity_factor`` from then to ``end_sec``, uniform
    within each period. Returns (customer index int64, visit second int64)."""
    n_customers = signup_sec.size
    begin = np.maximum(signup_sec, 0.0)
    alive_end = np.maximum(np.minimum(dead_from, end_sec), begin)
    alive_len = (alive_end - begin) / SECONDS_PER_DAY
    dead_len = (end_sec - alive_end) / SECONDS_PER_DAY
    n_alive = g.poisson(rate * alive_len)
    n_dead = g.poisson(rate * params.dead_activity_factor * dead_len)
    cust = np.concatenate(
        [np.repeat(np.arange(n_customers), n_alive), np.repeat(np.arange(n_customers), n_dead)]
    )
    lo = np.concatenate([np.repeat(begin, n_alive), np.repeat(alive_end, n_dead)])
    hi = np.concatenate([np.repeat(alive_end, n_alive), np.full(int(n_dead.sum()), float(end_sec))])
    visit = np.floor(lo + g.random(cust.size) * (hi - lo)).astype(np.int64)
    return cust, visit


def _add_browse_sessions(
    parts, g, params, end_sec, signup_sec, dead_from, browse_rate, taste, sampler
) -> None:
    """Browse sessions (see ``_browse_visits``): a visit, a view of a taste-driven product,
    an abandoned cart (``abandoned_cart_prob``) and sometimes a checkout start
    (``checkout_start_prob``), ~2 min apart."""
    cust, visit = _browse_visits(g, params, end_sec, signup_sec, dead_from, browse_rate)
    prod = _taste_products(g, params, taste[cust], sampler)
    gaps = np.ceil(g.exponential(120, (3, cust.size))).astype(np.int64) + 10
    view = visit + gaps[0]
    carted = g.random(cust.size) < params.abandoned_cart_prob
    cart = view + gaps[1]
    checkout = g.random(cust.size) < params.checkout_start_prob
    parts.add(cust, visit, "site_visit")
    parts.add(cust, view, "product_view", prod)
    parts.add(cust[carted], cart[carted], "cart_add", prod[carted])
    both = carted & checkout
    parts.add(cust[both], (cart + gaps[2])[both], "checkout_start")


def _sorted_unique_events(e_cust, e_sec, e_type, e_prod, n_customers: int, end_sec: int):
    """Events (four (n,) arrays as from ``_EventParts.concat``) in ``[0, end_sec)``,
    sorted by time, then (customer, type, product), without exact duplicates."""
    keep = np.flatnonzero((e_sec < end_sec) & (e_sec >= 0))
    e_cust, e_sec, e_type, e_prod = e_cust[keep], e_sec[keep], e_type[keep], e_prod[keep]
    order = _event_order(e_cust, e_sec, e_type, e_prod, n_customers, end_sec)
    e_cust, e_sec, e_type, e_prod = e_cust[order], e_sec[order], e_type[order], e_prod[order]
    del order
    unique = np.ones(e_sec.size, dtype=bool)
    unique[1:] = (
        (e_sec[1:] != e_sec[:-1])
        | (e_cust[1:] != e_cust[:-1])
        | (e_type[1:] != e_type[:-1])
        | (e_prod[1:] != e_prod[:-1])
    )
    if not unique.all():
        e_cust, e_sec, e_type, e_prod = (x[unique] for x in (e_cust, e_sec, e_type, e_prod))
    return e_cust, e_sec, e_type, e_prod


def _event_order(e_cust, e_sec, e_type, e_prod, n_customers: int, end_sec: int) -> np.ndarray:
    """Permutation sorting events by time, then (customer, type, product), so exact
    duplicates are adjacent: one sort on a combined int64 key when it fits, else two."""
    n_prod = int(e_prod.max(initial=0)) + 2
    secondary = (e_cust.astype(np.int64) * len(EVENT_TYPES) + e_type) * n_prod + e_prod + 1
    span = n_customers * len(EVENT_TYPES) * n_prod
    if int(end_sec) * span < 2**62:  # one sort on a combined key
        return np.argsort(e_sec.astype(np.int64) * span + secondary)
    order = np.argsort(secondary)
    return order[np.argsort(e_sec[order], kind="stable")]


# ---------------------------------------------------------------------------------------
# files


def write_shop(shop: SyntheticShop, out_dir) -> Path:
    """Write the five tables as ``<table>.parquet`` plus ``synthetic.json`` (seed, dates,
    parameters) into ``out_dir`` (created if needed). Returns the directory."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name in TABLES:
        getattr(shop, name).to_parquet(out / f"{name}.parquet", index=False)
    from ..outputs import dumps

    (out / "synthetic.json").write_text(dumps(shop.metadata()))
    return out


def read_cached_table(directory, name: str) -> pd.DataFrame:
    """One table of a shop written by ``write_shop`` (``name`` in ``TABLES``), dtypes as
    generated, read column by column (a lower memory peak than the whole file at once)."""
    from .io import read_parquet_by_column

    path = Path(directory) / f"{name}.parquet"
    if not path.exists():
        raise DataError(
            f"{directory}: missing {name}.parquet. Write the shop with "
            "scoring.data.synthetic.write_shop (or `scoring data synth --out DIR`)."
        )
    frame = read_parquet_by_column(path)
    for column in frame.columns:
        if pd.api.types.is_string_dtype(frame[column]) and frame[column].dtype != "string":
            frame[column] = frame[column].astype("string")
    return frame


def read_shop(directory) -> SyntheticShop:
    """Read a shop written by ``write_shop``; dtypes as generated.

    ``shop.generator_version`` is the version that wrote it (0 when ``synthetic.json`` is
    missing or predates versioning); a cache whose version differs from
    ``GENERATOR_VERSION`` was made by another generator and should be regenerated.
    """
    directory = Path(directory)
    missing = [f"{n}.parquet" for n in TABLES if not (directory / f"{n}.parquet").exists()]
    if missing:
        raise DataError(
            f"{directory}: missing {', '.join(missing)}. Write the shop with "
            "scoring.data.synthetic.write_shop (or `scoring data synth --out DIR`)."
        )
    tables = {name: read_cached_table(directory, name) for name in TABLES}
    meta_path = directory / "synthetic.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    kwargs: dict = {"generator_version": 0}
    if meta:
        known = {f.name for f in dataclasses.fields(SyntheticParams)}
        kwargs = {
            "generator_version": int(meta.get("generator_version", 0)),
            "seed": meta.get("seed", 0),
            "start": pd.Timestamp(meta["start"]),
            "cutoff": pd.Timestamp(meta["cutoff"]),
            "holdout_days": int(meta["holdout_days"]),
            "params": SyntheticParams(
                **{k: v for k, v in meta.get("params", {}).items() if k in known}
            ),
        }
    return SyntheticShop(**tables, **kwargs)
