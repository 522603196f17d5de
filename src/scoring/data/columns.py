"""Matching an export's columns to the canonical names, without guessing.

Rules, in order, for every canonical column:

1. an explicit mapping (``--columns`` / the config's ``columns:``) wins;
2. a column whose name *is* the canonical name (``Customer ID``, ``customer_id``) is taken;
3. otherwise the columns whose names are known aliases (``Invoice``, ``StockCode``, ``Client
   ID``...) or match the column's name pattern (``Client Number``, ``Kunden-Nr``...) are the
   candidates: one candidate is taken; several candidates refuse the file for a required
   column (customer id, timestamp, money columns) and ask for ``--columns``; for an optional
   column the first alias in priority order is taken and a warning names the others;
4. a customer id that was *not* mapped explicitly is refused when its values look like
   person names (``Alice Smith``): a names column taken as ids turns a shop into "1 customer".

Duplicate column names (also after trimming and case folding) are refused: which of the two
would be meant cannot be known.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pandas as pd

from .errors import DataError, examples

COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "customer_id": ("customerid", "clientid", "userid", "buyerid", "contactid", "memberid",
                    "accountid", "shopperid", "custid", "customer", "client"),
    "order_id": ("orderid", "invoice", "invoiceno", "invoiceid", "invoicenumber", "order",
                 "ordernumber", "orderno", "transactionid"),
    "timestamp": ("timestamp", "invoicedate", "orderdate", "date", "datetime", "createdat",
                  "purchasedate", "orderedat", "eventtime", "time"),
    "product_id": ("productid", "stockcode", "sku", "itemid", "product", "articleid",
                   "productcode", "itemcode"),
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
"""Known names per canonical column (normalised: lower case, no spaces, ``_ - .``), in
priority order."""

NAME_PATTERNS: dict[str, str] = {
    "customer_id": r"(?:customer|client|user|buyer|member|account|shopper|contact|cust|kunden?)"
                   r"(?:id|no|nr|number|num|code|key|ref|reference)",
    "order_id": r"(?:order|invoice|transaction|receipt|bestell)(?:id|no|nr|number|num|code|ref)",
    "product_id": r"(?:product|item|article|artikel|stock)(?:id|no|nr|number|code|ref)",
}
"""Name patterns (full match on the normalised name) beside the aliases."""

STRICT_COLUMNS: frozenset[str] = frozenset(
    {"customer_id", "order_id", "timestamp", "quantity", "unit_price", "amount", "product_id",
     "event_type"})
"""Columns whose ambiguity refuses the file: a wrong pick changes every number."""

PERSON_NAME = r"[^\W\d_][^\W\d_'’.\-]*(?:[ '’.\-]+[^\W\d_][^\W\d_'’.\-]*)+"
"""Two or more words of letters (``Alice Smith``, ``Jean-Luc O'Neil``): a person's name."""


def normalise(name) -> str:
    """Column name for matching: lower case, without spaces, ``_ - .`` and a BOM."""
    return re.sub(r"[\s_\-\.#/]+", "", str(name).replace("\ufeff", "")).lower()


@dataclass
class ColumnMatch:
    """Source column -> canonical name, and what the matching had to say."""

    renamed: dict[str, str]
    warnings: list[str] = field(default_factory=list)


def refuse_duplicate_names(columns, source: str) -> None:
    """DataError when two columns have the same name, also after trimming/case folding."""
    seen: dict[str, list[str]] = {}
    for position, name in enumerate(columns, start=1):
        seen.setdefault(str(name).strip().lower(), []).append(f"{name!r} (column {position})")
    clashes = [places for places in seen.values() if len(places) > 1]
    if clashes:
        listed = "; ".join(", ".join(places) for places in clashes)
        raise DataError(
            f"{source}: {len(clashes)} column name(s) appear more than once: {listed}. Which one "
            "is meant cannot be known: rename or delete the extra column(s) in the export.")


def match_columns(frame: pd.DataFrame, mapping: dict[str, str], wanted: tuple[str, ...],
                  required: tuple[str, ...], source: str, what: str = "transactions",
                  strict: frozenset[str] = STRICT_COLUMNS) -> ColumnMatch:
    """Which source column is which canonical column (rules in the module docstring).

    Raises DataError for a mapping that names unknown columns, duplicate column names, an
    ambiguous required column, a missing required column, or person names as customer ids.
    """
    refuse_duplicate_names(frame.columns, source)
    _check_mapping(frame, mapping, wanted, source, what)
    renamed = {source_column: canonical for canonical, source_column in mapping.items()}
    warnings: list[str] = []
    for canonical in wanted:
        if canonical in mapping:
            continue
        free = [c for c in frame.columns if c not in renamed]
        candidates = _candidates(free, canonical)
        if not candidates:
            continue
        if len(candidates) > 1 and (canonical in required or canonical in strict):
            shown = ", ".join(repr(c) for c in candidates)
            raise DataError(
                f"{source}: several columns could be the {what} column {canonical!r}: {shown}. "
                f"Say which with --columns, e.g. --columns \"{canonical}={candidates[0]}\"")
        if len(candidates) > 1:
            warnings.append(f"{canonical}: took {candidates[0]!r} (also possible: "
                            f"{', '.join(map(repr, candidates[1:]))}); choose with --columns")
        renamed[candidates[0]] = canonical
    _refuse_missing(frame, renamed, required, source, what)
    id_column = next((c for c, k in renamed.items() if k == "customer_id"), None)
    if id_column is not None and "customer_id" not in mapping:
        _refuse_person_names(frame[id_column], id_column, source)
    return ColumnMatch(renamed=renamed, warnings=warnings)


def _check_mapping(frame, mapping, wanted, source, what) -> None:
    for canonical, column in mapping.items():
        if canonical not in wanted:
            raise DataError(
                f"{source}: --columns names {canonical!r}, which is not a {what} column; "
                f"canonical columns are {', '.join(wanted)}")
        if column not in frame.columns:
            raise DataError(
                f"{source}: --columns maps {canonical!r} to {column!r}, but the file has no "
                f"such column; found: {', '.join(map(str, frame.columns))}")
    targets = pd.Series(list(mapping.values()), dtype=object)
    if targets.duplicated().any():
        raise DataError(f"{source}: --columns maps two canonical columns to the same source "
                        f"column {targets[targets.duplicated()].iloc[0]!r}; map each once")


def _candidates(columns: list, canonical: str) -> list:
    """Columns that could be ``canonical``: the exact name alone if present, else the alias
    and pattern matches in priority order."""
    names = {c: normalise(c) for c in columns}
    exact = [c for c, n in names.items() if n == normalise(canonical)]
    if len(exact) == 1:
        return exact
    aliases = COLUMN_ALIASES.get(canonical, ())
    ranked = sorted((aliases.index(n), i, c) for i, (c, n) in enumerate(names.items())
                    if n in aliases)
    found = exact + [c for _, _, c in ranked if c not in exact]
    pattern = NAME_PATTERNS.get(canonical)
    if pattern:
        found += [c for c, n in names.items() if c not in found and re.fullmatch(pattern, n)]
    return found


def _refuse_missing(frame, renamed, required, source, what) -> None:
    present = set(renamed.values())
    missing = [c for c in required if c not in present]
    if missing:
        raise DataError(
            f"{source}: required {what} column(s) {', '.join(missing)} not found. "
            f"Expected at least {', '.join(required)}; found: "
            f"{', '.join(map(str, frame.columns))}. Map them with --columns, e.g. "
            f'--columns "{missing[0]}=<your column name>"')


def _refuse_person_names(values: pd.Series, column, source: str, sample: int = 10_000) -> None:
    """DataError when most of (a sample of) the values look like person names."""
    present = values.dropna().head(sample)
    if present.empty or pd.api.types.is_numeric_dtype(present):
        return
    text = present.astype("string").str.strip()
    names = text.str.fullmatch(PERSON_NAME).fillna(False)
    if names.mean() > 0.5:
        raise DataError(
            f"{source}, column {column!r}: taken as the customer id by its name, but "
            f"{names.mean():.0%} of its values look like person names, e.g. "
            f"{examples(text[names])}. Map the column that holds customer ids with --columns, "
            f"e.g. --columns \"customer_id=Client Number\" (or map {column!r} explicitly if "
            "these really are ids)")
