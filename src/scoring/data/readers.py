"""Reading one export file (delimited text, Excel workbook, Parquet) as a table of text.

``read_export`` returns every source column under its original (stripped) name. Text and
Excel cells come as pandas' ``string`` dtype (Arrow storage) with <NA> only for empty cells,
so that "n/a", "-" or "NA" stay visible and are reported by the cleaning rules; Parquet
columns keep their stored types. What was detected (format, encoding, delimiter, header
row, sheets) is returned in ``RawTable.meta`` with human-readable warnings.

Delimited text is parsed by pyarrow's multi-threaded CSV reader. Everything pyarrow cannot
decide by itself is decided here on a sample of the file (the first 64 KB, more when a
record or a forced header row needs it):

* encoding: byte-order mark; UTF-16/32 without a mark from the pattern of NUL bytes; UTF-8
  when the bytes decode strictly; otherwise ``charset_normalizer`` with a preference for
  the Western code pages (cp1252 first) among equally good candidates;
* an Excel ``sep=;`` first line, then the delimiter among ``, ; TAB |`` and the quote char;
* the header row below a title block (see ``_find_header``).

pyarrow then reads from the first data row on (the file is positioned there, so title
blocks, ``sep=`` lines and byte-order marks never reach it), every column as a string.
"""

from __future__ import annotations

import codecs
import csv
import itertools
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import DataError
from .io import SUPPORTED_SUFFIXES

__all__ = ["RawTable", "read_export"]

SAMPLE_BYTES = 64 * 1024
"""Bytes of a text file inspected to decide encoding, delimiter and header row."""
MAX_SAMPLE_BYTES = 16 * 1024 * 1024
"""The sample grows up to this size when it holds too few complete records (long quoted
values) or when a forced header row lies further down."""
MIN_SAMPLE_RECORDS = 20
HEADER_SCAN_ROWS = 100
"""Rows of a sheet (or records of a text sample) searched for the header."""
BLOCK_BYTES = 4 * 1024 * 1024
"""pyarrow's CSV block size: the unit of parallel parsing; a quoted value longer than a
block makes pyarrow fail, and the read is retried with bigger blocks."""
DELIMITERS = (",", ";", "\t", "|")
DELIMITER_NAMES = {
    "tab": "\t",
    "\\t": "\t",
    "comma": ",",
    "semicolon": ";",
    "pipe": "|",
    "space": " ",
}
# The code pages Windows writes European exports in, most common first: charset_normalizer
# judges these first, and near-ties go to the earlier one (see _detect_legacy).
PREFERRED_ENCODINGS = ("cp1252", "iso8859-15", "iso8859-1", "cp1250", "iso8859-2", "cp1251")
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE: same first two bytes
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_SEP_LINE = re.compile(r'"?sep=([^\r\n])"?[ ]*(?:\r\n|\n|\r|$)', re.IGNORECASE)
_NUMBER = re.compile(r"[\s$€£¥%+\-(]*(?:\d[\d.,'\s]*|[.,]\d+)(?:[eE][+-]?\d+)?[\s$€£¥%)]*")
_DATE = re.compile(r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?")
_ZIP_MAGIC = b"PK\x03\x04"
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


@dataclass
class RawTable:
    """One export file as read, before any column mapping or cleaning.

    Attributes:
        frame: every source column, original names stripped of surrounding whitespace and a
            byte-order mark; shape (rows, columns). CSV and Excel cells are text (``string``
            dtype, Arrow storage), <NA> only for empty cells; Parquet columns as stored.
        part: int32 array of shape (rows,): index into ``part_names`` of the sheet each row
            comes from, when the rows come from several sheets; otherwise None.
        part_names: names of the sheets read, in order (one name when a single sheet was
            read; empty for CSV and Parquet).
        meta: what was detected: ``format`` ("csv", "excel", "parquet"), ``engine``,
            ``encoding`` and ``encoding_source`` ("forced", "bom", "nul-pattern", "utf-8",
            "detected"), ``delimiter``/``quotechar`` and ``delimiter_source`` ("forced",
            "sep-line", "suffix", "sniffed"), ``header_row`` (1-based line of a text file or
            row of a sheet) and ``header_source`` ("forced", "detected", "first-row"),
            ``sheets_read``, ``sheets_skipped`` {name: reason}, ``header_rows`` {sheet: row},
            ``rows``, ``warnings`` (list of sentences for the user).
    """

    frame: pd.DataFrame
    part: np.ndarray | None = None
    part_names: list[str] = field(default_factory=list)
    meta: dict = field(default_factory=dict)


def read_export(
    path: str | Path,
    what: str = "transactions",
    *,
    encoding: str | None = None,
    sheet: str | int | None = None,
    header_row: int | None = None,
    delimiter: str | None = None,
) -> RawTable:
    """Read one export file (CSV/TSV/TXT, XLSX/XLS, Parquet) into a ``RawTable``.

    Args:
        path: the file; the format follows the suffix (an Excel suffix on a text file, or a
            text suffix on a workbook, is noticed from the content and warned about).
        what: the table's role ("transactions", "customers", "events") for messages.
        encoding: force a text encoding (any Python codec name, e.g. "cp1252").
        sheet: read only this sheet of a workbook: its name, or its 1-based position
            (an int or a text such as "2"; a sheet really named "2" wins).
        header_row: force the header's row (1-based line of a text file, row of a sheet).
        delimiter: force the delimiter of a text file (one character, or "tab", "\\t",
            "comma", "semicolon", "pipe").

    Raises:
        DataError: missing, empty, unsupported or unreadable file; undecodable bytes;
            rows with a different number of fields than the header; duplicate column
            names; sheets with different tables; an unknown sheet. Each message names the
            file and the fix.
    """
    path = Path(path)
    kind = _check_file(path, what)
    if header_row is not None:
        header_row = _positive_row(header_row, path)
    container = _container(path) if kind != "parquet" else None
    if container == "html":
        raise DataError(
            f"{path}: this '{path.suffix}' file is a web page or XML document (HTML, XML), "
            f"not a table export; open it in Excel or LibreOffice and save the {what} as "
            ".xlsx or CSV, or export CSV from the shop"
        )
    if kind in ("csv", "tsv"):
        if container in ("zip", "ole2"):
            table = _read_workbook(path, what, container, sheet, header_row)
            table.meta["warnings"].insert(
                0, f"{path.name} is an Excel workbook despite its suffix; read as Excel"
            )
        else:
            table = _read_text(path, what, encoding, header_row, _delimiter(delimiter, path),
                               "\t" if kind == "tsv" else None)  # fmt: skip
    elif kind == "excel":
        if container in ("zip", "ole2"):
            table = _read_workbook(path, what, container, sheet, header_row)
        else:
            # Shops often export tab- or comma-separated text under an .xls name.
            table = _read_text(path, what, encoding, header_row, _delimiter(delimiter, path))
            table.meta["warnings"].insert(
                0, f"{path.name} is a text file despite its Excel suffix; read as delimited text"
            )
    else:
        table = _read_parquet(path, what)
    table.meta["rows"] = len(table.frame)
    if table.frame.empty:
        columns = ", ".join(map(str, table.frame.columns))
        raise DataError(f"{path}: the {what} file has a header ({columns}) but no rows")
    return table


# ------------------------------------------------------------------------ checks, options


def _check_file(path: Path, what: str) -> str:
    """The format of ``path`` from its suffix; DataError when missing, unsupported, empty.
    (The same messages as ``io.read_table`` had.)"""
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
    return kind


def _positive_row(row, path: Path) -> int:
    try:
        number = int(row)
    except (TypeError, ValueError):
        number = 0
    if number < 1 or str(number) != str(row).strip():
        raise DataError(f"{path}: --header-row must be a row number from 1 on, got {row!r}")
    return number


def _delimiter(value: str | None, path: Path) -> str | None:
    """A forced delimiter: one character, or a name such as "tab" or a typed "\\t"."""
    if value is None:
        return None
    char = DELIMITER_NAMES.get(value.lower(), value) if len(value) > 1 else value
    if len(char) != 1 or char in '\r\n"':
        raise DataError(
            f"{path}: --delimiter must be one character (or tab, comma, semicolon, pipe), "
            f"got {value!r}"
        )
    return char


def _container(path: Path) -> str:
    """What the first bytes say the file is: "zip" (xlsx), "ole2" (xls), "html", "text"."""
    with open(path, "rb") as file:
        head = file.read(1024)
    if head.startswith(_ZIP_MAGIC):
        return "zip"
    if head.startswith(_OLE2_MAGIC):
        return "ole2"
    start = head.lstrip(codecs.BOM_UTF8).lstrip().lower()
    if start.startswith((b"<!doctype html", b"<html", b"<table", b"<?xml")):
        return "html"
    return "text"


def _name_key(name: str) -> str:
    """Names that differ only by case or whitespace are the same column for a user (and
    for ``io.map_columns``)."""
    return " ".join(name.split()).casefold()


def _clean_names(raw: list, positions: list[int] | None = None) -> list[str]:
    """Header cells as column names: stripped of whitespace and byte-order marks; an empty
    name becomes ``Unnamed: <position>`` (0-based, as pandas names them)."""
    names = []
    for i, value in enumerate(raw):
        text = "" if value is None or value is pd.NA else str(value)
        text = text.replace("\ufeff", "").strip()
        names.append(text or f"Unnamed: {positions[i] if positions else i}")
    return names


def _refuse_duplicates(names: list[str], path: Path, what: str, where: str = "",
                       numbers: list[int] | None = None) -> None:  # fmt: skip
    """DataError naming columns whose names collide (after stripping, ignoring case) and
    their 1-based positions (``numbers``, default 1..n)."""
    numbers = numbers or list(range(1, len(names) + 1))
    seen: dict[str, list[tuple[int, str]]] = {}
    for number, name in zip(numbers, names, strict=True):
        seen.setdefault(_name_key(name), []).append((number, name))
    clashes = [found for found in seen.values() if len(found) > 1]
    if not clashes:
        return
    described = "; ".join(
        " and ".join(repr(name) for _, name in found)
        + f" (columns {_and(str(number) for number, _ in found)})"
        for found in clashes
    )
    raise DataError(
        f"{path}{where}: duplicate column names in the {what} header: {described}. "
        "Columns that differ only by case or surrounding spaces cannot be told apart; "
        "rename them in the export so that every column name is unique"
    )


def _and(items) -> str:
    items = list(items)
    return ", ".join(items[:-1]) + " and " + items[-1] if len(items) > 1 else "".join(items)


def _meta(fmt: str, engine: str) -> dict:
    return {
        "format": fmt,
        "engine": engine,
        "encoding": None,
        "encoding_source": None,
        "delimiter": None,
        "quotechar": None,
        "delimiter_source": None,
        "header_row": None,
        "header_source": None,
        "header_rows": {},
        "sheets_read": [],
        "sheets_skipped": {},
        "warnings": [],
    }


def _arrow_strings(table) -> pd.DataFrame:
    """An Arrow table of strings as a DataFrame of ``string`` (Arrow storage) columns, the
    table's buffers handed over (``self_destruct``), one block per column."""
    import pyarrow as pa

    def mapper(arrow_type):
        if arrow_type in (pa.string(), pa.large_string()):
            return pd.StringDtype("pyarrow")
        return None

    return table.to_pandas(types_mapper=mapper, self_destruct=True, split_blocks=True)


# ---------------------------------------------------------------------------- header rule


def _mostly_text(cells: list[str]) -> bool:
    """More than half of the non-empty cells are neither numbers nor dates."""
    values = [c.strip() for c in cells if c.strip()]
    numeric = sum(bool(_NUMBER.fullmatch(v) or _DATE.fullmatch(v)) for v in values)
    return 2 * numeric < len(values)


def _find_header(rows: list[list[str]], fixed_width: bool) -> tuple[int | None, bool]:
    """The header among the first rows of a table (list of rows of cell texts, "" empty).

    The table's width W is the most common number of fields of the non-blank rows of a
    text file (``fixed_width``: every row of a text file has all its fields) or the largest
    number of non-empty cells of a row of a sheet. Rows with at most W/2 non-empty cells
    are title lines ("Sales report", "Exported 2011-12-10") and skipped. The first row
    with more is the header when all its W cells are non-empty, more than half of them
    are not numbers or dates, and the next non-blank row has W fields (text) or exists
    (sheet). Otherwise (an unnamed column in the header, numbers in it, a single column)
    the first non-blank row is taken, as a plain reader would.

    Returns (index into ``rows`` or None when every row is blank, detected by the rule).
    """
    counts = [sum(bool(c.strip()) for c in row) for row in rows]
    nonblank = [i for i, n in enumerate(counts) if n]
    if not nonblank:
        return None, False
    if fixed_width:
        lengths = Counter(len(rows[i]) for i in nonblank)
        width = max(lengths, key=lambda n: (lengths[n], n))
    else:
        width = max(counts)
    first = nonblank[0]
    if width < 2:
        return first, False
    for position, i in enumerate(nonblank):
        if 2 * counts[i] <= width:
            continue
        following = nonblank[position + 1] if position + 1 < len(nonblank) else None
        is_header = (
            counts[i] == width
            and (not fixed_width or len(rows[i]) == width)
            and _mostly_text(rows[i])
            and following is not None
            and (not fixed_width or len(rows[following]) == width)
        )
        return (i, True) if is_header else (first, False)
    return first, False


# ------------------------------------------------------------------------------ encodings


@dataclass
class _Encoding:
    """How to decode a text file: ``name`` a Python codec with explicit byte order,
    ``bom`` bytes of byte-order mark to skip at the start, ``source`` how it was chosen."""

    name: str
    bom: int
    source: str


def _codec(name: str, path: Path) -> str:
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise DataError(
            f"{path}: unknown encoding {name!r}; use a name such as utf-8, cp1252, latin-1 "
            "or utf-16"
        ) from None


def _bom(head: bytes) -> tuple[str | None, int]:
    for mark, name in _BOMS:
        if head.startswith(mark):
            return name, len(mark)
    return None, 0


def _nul_pattern(head: bytes) -> str | None:
    """UTF-16/32 without a byte-order mark: text in these encodings has a NUL byte at
    fixed positions for every ASCII character (e.g. every second byte in UTF-16-LE)."""
    n = min(len(head), 4096) // 4 * 4
    if n < 8:
        return None
    zero = (np.frombuffer(head[:n], dtype=np.uint8).reshape(-1, 4) == 0).mean(axis=0)
    if zero[1:].min() > 0.5 and zero[0] < 0.1:
        return "utf-32-le"
    if zero[:3].min() > 0.5 and zero[3] < 0.1:
        return "utf-32-be"
    even, odd = (zero[0] + zero[2]) / 2, (zero[1] + zero[3]) / 2
    if odd > 0.3 and even < 0.05:
        return "utf-16-le"
    if even > 0.3 and odd < 0.05:
        return "utf-16-be"
    return None


def _decodes(data: bytes, encoding: str, final: bool) -> bool:
    try:
        codecs.getincrementaldecoder(encoding)("strict").decode(data, final=final)
    except UnicodeDecodeError:
        return False
    return True


def _detect_legacy(data: bytes) -> str | None:
    """A single-byte (or legacy multi-byte) encoding for bytes that are not UTF-8.

    ``charset_normalizer`` measures how garbled ("chaos") the text decoded by each code
    page looks. It judges ``PREFERRED_ENCODINGS`` first, keeping all of them whatever their
    chaos (unrestricted, it stops after a dozen candidates that decode a short sample and
    drops those above 0.2: on short French or British samples it returned Baltic cp1257
    or mac-latin2 and never cp1252). Among those within 0.01 of the lowest chaos the first
    of the list wins: for "Café" or "München" cp1250 and cp1252 are equally plausible, and
    cp1252 is far more common in shop exports; Polish text gives cp1250 a lower chaos,
    Russian leaves only cp1251. When their lowest chaos is above 0.1, every encoding it
    knows is judged, and its best that reads the letters as another script than Latin is
    taken if its chaos is lower by more than 0.1 (Greek, Asian text). Only lines with non-ASCII bytes are judged when they make up 4 KB or more
    (ASCII lines carry no evidence and dilute the measure).
    """
    from charset_normalizer import from_bytes

    lines = [line for line in data.splitlines() if not line.isascii()]
    evidence = b"\n".join(lines[:500])
    if len(evidence) < 4096:
        # Too little to judge by itself: a lone "£5" has too many symbols for cp1252 to
        # pass the measure; the ASCII around it makes the sample look like what it is.
        evidence = data

    def judged(isolation: list[str] | None) -> list[tuple[float, str]]:
        """(chaos, codec) of every code page that decodes ``evidence``, lowest first; a
        match stands for every code page that decodes it to the same text."""
        # threshold=1 keeps every judged code page (the default drops chaos above 0.2).
        matches = from_bytes(evidence, cp_isolation=isolation, threshold=1.0 if isolation else 0.2)
        found = [
            (m.chaos, codecs.lookup(name).name) for m in matches for name in m.could_be_from_charset
        ]
        return sorted(
            (chaos, name)
            for chaos, name in found
            if name not in ("utf-8", "ascii") and _decodes(evidence, name, final=True)
        )

    preferred = judged(list(PREFERRED_ENCODINGS))
    if preferred:
        best = preferred[0][0]
        near = {name for chaos, name in preferred if chaos <= best + 0.01}
        choice = next(name for name in PREFERRED_ENCODINGS if name in near)
        if best <= 0.1:
            return choice
    # Other code pages only for other scripts: to the measure, French read as Baltic cp1257
    # ("garēon") looks as good as cp1252.
    others = [(chaos, name) for chaos, name in judged(None) if not _latin(evidence, name)]
    if others and (not preferred or others[0][0] + 0.1 < preferred[0][0]):
        return others[0][1]
    return choice if preferred else None


def _latin(data: bytes, encoding: str) -> bool:
    """Most non-ASCII letters of ``data`` decoded with ``encoding`` are Latin letters."""
    import unicodedata

    letters = [
        c for c in set(data.decode(encoding, errors="ignore")) if ord(c) > 127 and c.isalpha()
    ]
    latin = sum(unicodedata.name(c, "").startswith("LATIN") for c in letters)
    return 2 * latin > len(letters)


def _choose_encoding(head: bytes, forced: str | None, at_eof: bool, path: Path) -> _Encoding:
    """Encoding of a text file from its first bytes (see the module docstring)."""
    bom_codec, bom_len = _bom(head)
    if forced is not None:
        name = _codec(forced, path)
        name = "utf-8" if name == "utf-8-sig" else name
        if bom_codec is not None and bom_codec.startswith(name):
            return _Encoding(bom_codec, bom_len, "forced")
        if name in ("utf-16", "utf-32"):
            pattern = _nul_pattern(head)
            name = pattern if pattern and pattern.startswith(name) else name + "-le"
        return _Encoding(name, 0, "forced")
    if bom_codec is not None:
        return _Encoding(bom_codec, bom_len, "bom")
    pattern = _nul_pattern(head)
    if pattern is not None:
        return _Encoding(pattern, 0, "nul-pattern")
    if _decodes(head, "utf-8", final=at_eof):
        return _Encoding("utf-8", 0, "utf-8")
    detected = _detect_legacy(head)
    if detected is None:
        offset, snippet = _first_undecodable(path, "utf-8", 0) or (0, "")
        raise DataError(
            f"{path}: the file is not UTF-8 (byte offset {offset:,}, near {snippet!r}) and "
            "its encoding could not be detected; pass --encoding (e.g. --encoding cp1252) "
            "or re-export the file as UTF-8"
        )
    return _Encoding(detected, 0, "detected")


def _first_undecodable(path: Path, encoding: str, start: int) -> tuple[int, str] | None:
    """Byte offset of the first byte that ``encoding`` cannot decode (from ``start``) and
    the text around it (undecodable bytes shown as ``\\xNN``), or None. Streams the file in
    4 MB pieces; used only to explain a failure."""
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    offset = start
    with open(path, "rb") as file:
        file.seek(start)
        while True:
            chunk = file.read(4 * 1024 * 1024)
            pending = len(decoder.getstate()[0])
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                bad = offset - pending + exc.start
                break
            if not chunk:
                return None
            offset += len(chunk)
    return bad, _snippet(path, bad, encoding)


def _snippet(path: Path, offset: int, encoding: str, width: int = 40) -> str:
    """The text around byte ``offset``, undecodable bytes shown as ``\\xNN``."""
    unit = 4 if "32" in encoding else 2 if "16" in encoding else 1
    with open(path, "rb") as file:
        file.seek(max(0, offset - width) // unit * unit)
        data = file.read(2 * width)
    return data.decode(encoding, errors="backslashreplace")


def _decode_error(path: Path, what: str, enc: _Encoding, start: int) -> DataError:
    """The DataError for bytes that ``enc`` cannot decode: where, what, and the fix."""
    found = _first_undecodable(path, enc.name, start)
    offset, snippet = found if found else (start, "")
    suggestion = None
    with open(path, "rb") as file:
        file.seek(max(0, offset - SAMPLE_BYTES // 2))
        window = file.read(SAMPLE_BYTES)
    if not enc.name.startswith("utf-8") and _decodes(window, "utf-8", final=False):
        suggestion = "utf-8"
    else:
        suggestion = _detect_legacy(window) or "cp1252"
    how = {
        "forced": "(forced)",
        "detected": "(detected)",
        "bom": "(as its byte-order mark says)",
        "nul-pattern": "(detected from its NUL bytes)",
        "utf-8": "(its first bytes are UTF-8)",
    }[enc.source]
    return DataError(
        f"{path}: the {what} file cannot be read as {enc.name} {how}: the byte at offset "
        f"{offset:,} is not valid {enc.name} (near {snippet!r}). Pass "
        f"--encoding {suggestion} if the file was exported in {suggestion} (or the encoding "
        "it was written in), or re-export it as UTF-8"
    )


# ----------------------------------------------------------------------- delimited text


@dataclass
class _Record:
    """One CSV record of the sample: ``fields``; ``line`` its first line (1-based, in the
    sample's text); ``start``/``end`` character offsets in the sample's text."""

    fields: list[str]
    line: int
    start: int
    end: int


def _records(text: str, delimiter: str, quotechar: str, complete: bool) -> list[_Record]:
    """The CSV records of a decoded sample, with their lines and character offsets.

    Python's csv module (the old pandas python engine's parser) is used on the sample: it
    follows quotes across lines like pyarrow does. ``complete``: the sample is the whole
    file; otherwise its last record may be cut and is dropped.
    """
    # str.splitlines also splits on \x0b, \x0c, \x1c-\x1e, \x85, \u2028/9, which are data to
    # a CSV parser: split on \r, \n, \r\n only.
    lines = re.findall(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$", text)
    starts = np.concatenate([[0], np.cumsum([len(line) for line in lines])]).astype(int)
    reader = csv.reader(lines, delimiter=delimiter, quotechar=quotechar, strict=False)
    out: list[_Record] = []
    previous = 0
    try:
        for row in reader:
            out.append(_Record(row, previous + 1, int(starts[previous]),
                               int(starts[reader.line_num])))  # fmt: skip
            previous = reader.line_num
    except csv.Error:  # a field over the csv module's size limit, or a cut quote
        complete = False
    if not complete and out:
        out.pop()
    return out


def _sniff_delimiter(text: str, complete: bool) -> str:
    """The candidate delimiter that gives the most records of one common width (>= 2),
    ties to the wider table, then to the order ``, ; TAB |``. Hand-written because
    ``csv.Sniffer`` guesses from character frequencies and is thrown off by title lines,
    decimal commas and delimiters inside quoted text."""
    best, best_score = ",", (0, 0)
    for delimiter in DELIMITERS:
        widths = Counter(
            len(r.fields) for r in _records(text, delimiter, '"', complete) if any(r.fields)
        )
        if not widths:
            continue
        width = max(widths, key=lambda n: (widths[n], n))
        score = (widths[width], width) if width >= 2 else (0, 0)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _sniff_quote(text: str, delimiter: str) -> str:
    """``"`` unless the sample has no ``"`` and a ``'``-quoted field holds the delimiter or
    a line break (then the file can only be read with ``'`` as the quote)."""
    if '"' in text or "'" not in text:
        return '"'
    d = re.escape(delimiter)
    quoted = re.compile(rf"(?:^|{d})'((?:[^']|'')*)'(?={d}|\r|\n|$)", re.MULTILINE)
    for match in quoted.finditer(text):
        if delimiter in match.group(1) or "\n" in match.group(1) or "\r" in match.group(1):
            return "'"
    return '"'


def _read_text(path: Path, what: str, encoding: str | None, header_row: int | None,
               delimiter: str | None, suffix_delimiter: str | None = None) -> RawTable:  # fmt: skip
    """Read a delimited text file (see the module docstring). The delimiter is
    ``delimiter`` (forced), else the ``sep=`` line's, else ``suffix_delimiter`` (tab for
    .tsv), else sniffed."""
    size = path.stat().st_size
    meta = _meta("csv", "pyarrow.csv")
    with open(path, "rb") as file:
        head = file.read(SAMPLE_BYTES)
    enc = _choose_encoding(head, encoding, len(head) >= size, path)
    if enc.source == "detected":
        meta["warnings"].append(f"read as {enc.name} (detected); pass --encoding to force another")
    sample_bytes = SAMPLE_BYTES
    while True:
        text, complete = _sample_text(path, enc, sample_bytes, size, what)
        hint = _SEP_LINE.match(text)
        skip = hint.end() if hint else 0
        chosen = delimiter or (hint.group(1) if hint else None) or suffix_delimiter
        body = text[skip:]
        if chosen is None:
            chosen = _sniff_delimiter(body, complete)
        quote = _sniff_quote(body, chosen)
        records = _records(body, chosen, quote, complete)
        wanted = header_row - (1 if hint else 0) if header_row else None
        enough = (
            any(r.line > wanted for r in records) if wanted else len(records) >= MIN_SAMPLE_RECORDS
        )
        if complete or enough or sample_bytes >= MAX_SAMPLE_BYTES:
            break
        sample_bytes *= 4
    meta.update(encoding=enc.name, encoding_source=enc.source, delimiter=chosen, quotechar=quote)
    meta["delimiter_source"] = (
        "forced"
        if delimiter
        else "sep-line"
        if hint
        else "suffix"
        if suffix_delimiter
        else "sniffed"
    )
    offset_lines = 1 if hint else 0
    if header_row is not None:
        if header_row <= offset_lines:
            raise DataError(f"{path}: --header-row {header_row} is the 'sep=' line")
        matching = [i for i, r in enumerate(records) if r.line == header_row - offset_lines]
        if not matching:
            raise DataError(
                f"{path}: --header-row {header_row}: no record starts on that line (it is "
                "blank, inside a quoted value, or beyond the first "
                f"{sample_bytes // 1024:,} KB of the file)"
            )
        index, source = matching[0], "forced"
    else:
        index, detected = _find_header([r.fields for r in records[:HEADER_SCAN_ROWS]], True)
        if index is None:
            raise DataError(f"{path}: the {what} file has no header and no rows")
        source = "detected" if detected else "first-row"
    header = records[index]
    meta.update(header_row=header.line + offset_lines, header_source=source)
    skipped = [r for r in records[:index] if any(f.strip() for f in r.fields)]
    if skipped and source != "forced":
        shown = ", ".join(repr(_shorten(" ".join(f for f in r.fields if f))) for r in skipped[:3])
        meta["warnings"].append(
            f"the header is on line {meta['header_row']}: {len(skipped)} line(s) above it "
            f"skipped ({shown}); pass --header-row to choose another line"
        )
    names = _clean_names(header.fields)
    _refuse_duplicates(names, path, what)
    start = enc.bom + len(text[: skip + header.end].encode(enc.name, "surrogateescape"))
    table = _arrow_csv(path, what, enc, start, len(names), chosen, quote, meta)
    frame = _arrow_strings(table)
    frame.columns = names
    return RawTable(frame, None, [], meta)


def _shorten(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _sample_text(path: Path, enc: _Encoding, nbytes: int, size: int,
                 what: str) -> tuple[str, bool]:  # fmt: skip
    """The first ``nbytes`` of the file after its byte-order mark, decoded (a character cut
    at the end is left out), and whether that is the whole file."""
    with open(path, "rb") as file:
        file.seek(enc.bom)
        data = file.read(nbytes)
    complete = enc.bom + len(data) >= size
    # UTF-8 assumed from the first 64 KB: bytes further on that are not UTF-8 are kept as
    # surrogates (the offsets stay exact) and left to pyarrow, whose failure re-detects.
    errors = "surrogateescape" if enc.source == "utf-8" else "strict"
    try:
        text = codecs.getincrementaldecoder(enc.name)(errors).decode(data, final=complete)
    except UnicodeDecodeError:
        raise _decode_error(path, what, enc, enc.bom) from None
    return text, complete


class _BadRows:
    """pyarrow's invalid-row handler: skips rows of blanks (as the old reader did), counts
    rows with a wrong number of fields and keeps a few for the error message."""

    def __init__(self):
        self.count = 0
        self.examples: list[tuple[int, str]] = []

    def __call__(self, row) -> str:
        if not row.text.strip():
            return "skip"
        self.count += 1
        if len(self.examples) < 3:
            self.examples.append((row.actual_columns, _shorten(row.text, 80)))
        return "skip"


def _arrow_csv(path: Path, what: str, enc: _Encoding, start: int, width: int,
               delimiter: str, quote: str, meta: dict):  # fmt: skip
    """Read the records from byte ``start`` on with pyarrow, every column a string (empty
    -> null, nothing else). Retries with bigger blocks when a value outgrows a block, and
    with a detected encoding when bytes after the sample are not UTF-8."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    names = [f"c{i}" for i in range(width)]
    block = BLOCK_BYTES
    while True:
        bad = _BadRows()
        source = pa.OSFile(str(path))
        try:
            source.seek(start)
            table = pa_csv.read_csv(
                source,
                read_options=pa_csv.ReadOptions(
                    use_threads=True, block_size=block, column_names=names, encoding=enc.name
                ),
                parse_options=pa_csv.ParseOptions(
                    delimiter=delimiter,
                    quote_char=quote,
                    double_quote=True,
                    newlines_in_values=True,
                    ignore_empty_lines=True,
                    invalid_row_handler=bad,
                ),
                convert_options=pa_csv.ConvertOptions(
                    column_types={name: pa.large_string() for name in names},
                    null_values=[""],
                    strings_can_be_null=True,
                    quoted_strings_can_be_null=True,
                ),
            )
        except UnicodeDecodeError:
            raise _decode_error(path, what, enc, start) from None
        except pa.ArrowInvalid as exc:
            message = str(exc)
            if "Empty CSV file" in message:
                table = pa.table({name: pa.array([], pa.large_string()) for name in names})
            elif "straddling" in message and block < 512 * 1024 * 1024:
                block *= 8
                continue
            elif "invalid UTF8" in message and enc.name == "utf-8" and enc.source != "forced":
                enc = _redetect(path, what, enc, start)
                meta.update(encoding=enc.name, encoding_source=enc.source)
                meta["warnings"].append(
                    f"read as {enc.name} (detected: the file is not UTF-8 after its first "
                    "lines); pass --encoding to force another"
                )
                continue
            elif "invalid UTF8" in message:
                raise _decode_error(path, what, enc, start) from None
            else:
                raise DataError(f"{path}: could not read {what} as csv: {message}") from exc
        finally:
            source.close()
        break
    if bad.count:
        examples = "; ".join(f"{text!r} ({n} fields)" for n, text in bad.examples)
        raise DataError(
            f"{path}: {bad.count:,} row(s) of the {what} file do not have the header's "
            f"{width} fields (delimiter {delimiter!r}), e.g. {examples}. Quote values that "
            "contain the delimiter or line breaks and export again, or pass --delimiter if "
            f"{delimiter!r} is not the delimiter"
        )
    return table


def _redetect(path: Path, what: str, enc: _Encoding, start: int) -> _Encoding:
    """The encoding of a file whose first bytes were UTF-8 but later ones are not.

    A file that has valid multi-byte UTF-8 before the first invalid byte mixes encodings
    (e.g. two exports concatenated): no single encoding reads it, so it is refused.
    """
    found = _first_undecodable(path, "utf-8", start)
    if found is None:  # pyarrow disagreed with Python's decoder: report pyarrow's view
        raise DataError(f"{path}: could not read {what} as csv: invalid UTF-8 data")
    offset, snippet = found
    with open(path, "rb") as file:
        prefix_ascii = True
        while file.tell() < offset and prefix_ascii:
            prefix_ascii = file.read(min(4 * 1024 * 1024, offset - file.tell())).isascii()
        file.seek(max(0, offset - 1024))
        window = file.read(SAMPLE_BYTES)
    if not prefix_ascii:
        raise DataError(
            f"{path}: the {what} file mixes encodings: it is UTF-8 up to byte offset "
            f"{offset:,}, where it has bytes that are not UTF-8 (near {snippet!r}). "
            "Re-export it as UTF-8 in one piece, or pass --encoding to read all of it in "
            "one encoding"
        )
    detected = _detect_legacy(window)
    if detected is None or 'abc,;\t|"\r\n'.encode(detected, "replace") != b'abc,;\t|"\r\n':
        raise _decode_error(path, what, enc, start)
    return _Encoding(detected, enc.bom, "detected")


# ------------------------------------------------------------------------------ workbooks


@dataclass
class _Sheet:
    """One sheet's table: ``names`` (stripped), ``columns`` {name: string Series} of the
    rows below the header, ``header_row`` (1-based sheet row), or ``skipped`` (a reason)."""

    name: str
    names: list[str] = field(default_factory=list)
    columns: dict = field(default_factory=dict)
    header_row: int | None = None
    header_source: str | None = None
    skipped: str | None = None
    warnings: list[str] = field(default_factory=list)
    rows: int = 0


def _cells_to_text(values: np.ndarray) -> pd.Series:
    """Excel cell values (object array of shape (rows,)) as text, as a CSV export would
    hold them: numbers by their shortest repr without a ``.0`` for whole numbers
    (12346.0 -> "12346"), dates and times as ISO ``YYYY-MM-DD HH:MM:SS`` (milliseconds
    appended when not zero), booleans as TRUE/FALSE; None, NaN and "" -> <NA>.

    Cells are grouped by Python type (one C-level ``type`` call per cell) and every group
    is converted with one array operation.
    """
    import datetime as dt

    out = np.full(len(values), None, dtype=object)
    kinds = pd.Series(values, dtype=object).map(type).to_numpy()
    for kind in pd.unique(kinds):
        mask = kinds == kind
        part = values[mask]
        if kind is str:
            out[mask] = part
        elif kind in (type(None), type(pd.NaT), type(pd.NA)):
            continue
        elif issubclass(kind, (bool, np.bool_)):
            out[mask] = np.where(part.astype(bool), "TRUE", "FALSE")
        elif issubclass(kind, (int, np.integer)):
            out[mask] = part.astype(str)
        elif issubclass(kind, (float, np.floating)):
            number = part.astype(np.float64)
            text = number.astype(str).astype(object)
            whole = np.isfinite(number) & (number == np.trunc(number)) & (np.abs(number) < 2**53)
            text[whole] = number[whole].astype(np.int64).astype(str)
            text[np.isnan(number)] = None
            out[mask] = text
        elif issubclass(kind, (dt.datetime, dt.date, np.datetime64)):
            out[mask] = _iso_datetimes(part)
        else:  # datetime.time, timedelta, anything else: Python's text for it
            out[mask] = part.astype(str)
    text = pd.Series(out, dtype=pd.StringDtype("pyarrow"))
    return text.mask(text == "")


def _iso_datetimes(values: np.ndarray) -> np.ndarray:
    """Datetimes/dates (object array) as ``YYYY-MM-DD HH:MM:SS``, rounded to the
    millisecond (Excel stores days as floats: 08:26 may come back as 08:25:59.999999);
    ``.fff`` appended when the milliseconds are not zero."""
    micro = np.array(values, dtype="datetime64[us]").astype(np.int64)
    milli = (micro + 500) // 1000
    stamps = milli.astype("datetime64[ms]")
    whole = milli % 1000 == 0
    text = np.where(
        whole,
        np.datetime_as_string(stamps.astype("datetime64[s]"), unit="s"),
        np.datetime_as_string(stamps, unit="ms"),
    )
    return np.char.replace(text, "T", " ").astype(object)


def _sheet_table(name: str, columns: list[np.ndarray], header_row: int | None) -> _Sheet:
    """The table of one sheet given its cells column by column (object arrays of the same
    length; row i is sheet row i + 1)."""
    sheet = _Sheet(name)
    texts = [_cells_to_text(values) for values in columns]
    n_rows = len(texts[0]) if texts else 0
    if not n_rows or not any(t.notna().any() for t in texts):
        sheet.skipped = "empty"
        return sheet
    scan = HEADER_SCAN_ROWS if header_row is None else max(HEADER_SCAN_ROWS, header_row)
    head = [t.iloc[:scan].fillna("").tolist() for t in texts]
    rows = [list(cells) for cells in zip(*head, strict=True)]
    if header_row is not None:
        if header_row > n_rows:
            sheet.skipped = f"has only {n_rows:,} rows, fewer than --header-row {header_row}"
            return sheet
        index, sheet.header_source = header_row - 1, "forced"
    else:
        index, detected = _find_header(rows, False)
        sheet.header_source = "detected" if detected else "first-row"
    sheet.header_row = index + 1
    header = rows[index]
    below = [t.iloc[index + 1 :].reset_index(drop=True) for t in texts]
    # Columns: named in the header or holding data below it; unnamed empty margins dropped.
    kept = [j for j in range(len(texts)) if header[j].strip() or below[j].notna().any()]
    if not kept:
        sheet.skipped = "empty"
        return sheet
    blank = np.logical_and.reduce([below[j].isna().to_numpy() for j in kept])
    sheet.names = _clean_names([header[j] for j in kept], [j - kept[0] for j in kept])
    sheet.columns = {j: below[j][~blank].reset_index(drop=True) for j in kept}
    sheet.rows = int((~blank).sum())
    skipped = [r for r in rows[:index] if any(c.strip() for c in r)]
    if skipped and header_row is None:
        shown = ", ".join(repr(_shorten(" ".join(c for c in r if c.strip()))) for r in skipped[:3])
        sheet.warnings.append(
            f"sheet {name!r}: the header is on row {sheet.header_row}: {len(skipped)} row(s) "
            f"above it skipped ({shown}); pass --header-row to choose another row"
        )
    return sheet


def _xlsx_sheets(path: Path):
    """(sheet names, function(names) -> generator of (name, columns as object arrays of
    shape (rows,), or None for a chart sheet)) of an .xlsx workbook, read with openpyxl in
    read-only mode (cell values, not formulas); the workbook is closed when the generator
    ends."""
    import openpyxl

    # A file object: openpyxl refuses paths whose suffix is not an Excel one.
    handle = open(path, "rb")  # noqa: SIM115 - closed when the generator ends
    try:
        book = openpyxl.load_workbook(handle, read_only=True, data_only=True, keep_links=False)
    except Exception:
        handle.close()
        raise

    def sheets(names: list[str]):
        try:
            for name in names:
                sheet = book[name]
                if not hasattr(sheet, "iter_rows"):
                    yield name, None
                    continue
                # The stored dimensions can be wrong (some writers set A1:A1): read what
                # is there. Rows then differ in length; zip_longest pads them with None
                # while transposing rows into columns (in C, no loop over rows here).
                sheet.reset_dimensions()
                rows = sheet.iter_rows(values_only=True)
                yield name, [np.array(c, dtype=object) for c in itertools.zip_longest(*rows)]
        finally:
            book.close()
            handle.close()

    return list(book.sheetnames), sheets


def _xls_sheets(path: Path, what: str):
    """(sheet names, function(names) -> generator of (name, columns)) of an old .xls
    workbook, read with pandas (xlrd, or python-calamine); DataError when neither is
    installed."""
    book = None
    errors = []
    for engine in ("xlrd", "calamine"):
        try:
            book = pd.read_excel(path, sheet_name=None, header=None, dtype=object,
                                 na_filter=False, engine=engine)  # fmt: skip
            break
        except ImportError as exc:
            errors.append(str(exc).splitlines()[0])
    if book is None:
        raise DataError(
            f"{path}: reading the old Excel format .xls needs the xlrd package (pip install "
            f"xlrd), which is not installed ({'; '.join(errors)}); or open the {what} file in "
            "Excel or LibreOffice and save it as .xlsx or CSV"
        )

    def sheets(names: list[str]):
        for name in names:
            frame = book.pop(name)
            yield name, [frame[c].to_numpy(dtype=object) for c in frame.columns]

    return list(book), sheets


def _pick_sheet(sheet: str | int, names: list[str], path: Path) -> str:
    """A sheet by name (exact, then ignoring case and spaces) or 1-based position."""
    text = str(sheet).strip()
    if text in names:
        return text
    by_key = {_name_key(n): n for n in names}
    if _name_key(text) in by_key:
        return by_key[_name_key(text)]
    if text.isdigit() and 1 <= int(text) <= len(names):
        return names[int(text) - 1]
    listed = ", ".join(f"{i}: {n!r}" for i, n in enumerate(names, 1))
    raise DataError(
        f"{path}: no sheet {sheet!r} in the workbook; its sheets are {listed}. "
        "Pass --sheet with one of these names or numbers"
    )


def _read_workbook(path: Path, what: str, container: str, sheet: str | int | None,
                   header_row: int | None) -> RawTable:  # fmt: skip
    """Read every sheet (or ``sheet``), stack those with the first table's header."""
    meta = _meta("excel", "openpyxl" if container == "zip" else "pandas.read_excel")
    try:
        names, sheets = _xlsx_sheets(path) if container == "zip" else _xls_sheets(path, what)
        wanted = [_pick_sheet(sheet, names, path)] if sheet is not None else names
        tables = []
        for name, columns in sheets(wanted):
            if columns is None:
                tables.append(_Sheet(name, skipped="a chart sheet, no cells"))
            else:
                tables.append(_sheet_table(name, columns, header_row))
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - re-raised with the file named
        raise DataError(f"{path}: could not read {what} as excel: {exc}") from exc
    # With several sheets, a sheet whose "table" is one column is a cover or notes sheet.
    several = sum(t.skipped is None for t in tables) > 1
    for table in tables:
        if table.skipped is None and several and len(table.names) < 2:
            table.skipped = "no table (a single column of text)"
        elif table.skipped is None and table.rows == 0 and several:
            table.skipped = f"no rows below its header ({', '.join(table.names)})"
    data = [t for t in tables if t.skipped is None]
    for table in tables:
        if table.skipped is not None:
            meta["sheets_skipped"][table.name] = table.skipped
            meta["warnings"].append(f"sheet {table.name!r} skipped: {table.skipped}")
    if not data:
        if sheet is not None and tables and tables[0].skipped != "empty":
            raise DataError(f"{path}: sheet {tables[0].name!r} has no table: {tables[0].skipped}")
        raise DataError(
            f"{path}: the {what} file has no header and no rows (sheets: "
            f"{', '.join(repr(n) for n in names)})"
        )
    first = data[0]
    for table in data:
        _refuse_duplicates(table.names, path, what, f", sheet {table.name!r}",
                           [j + 1 for j in table.columns])  # fmt: skip
    keys = [_name_key(n) for n in first.names]
    different = [t for t in data if [_name_key(n) for n in t.names] != keys]
    if different:
        listed = "; ".join(
            f"{t.name!r} (row {t.header_row}): {', '.join(t.names[:8])}"
            + (", ..." if len(t.names) > 8 else "")
            for t in data
        )
        raise DataError(
            f"{path}: the workbook's sheets hold different tables: {listed}. Only sheets "
            f"with the same header are read together; pass --sheet NAME to read one sheet"
        )
    frame = pd.DataFrame(
        {
            name: pd.concat([list(t.columns.values())[j] for t in data], ignore_index=True)
            for j, name in enumerate(first.names)
        }
    )
    part_names = [t.name for t in data]
    part = None
    if len(data) > 1:
        part = np.repeat(np.arange(len(data), dtype=np.int32), [t.rows for t in data])
    meta["sheets_read"] = part_names
    meta["header_rows"] = {t.name: t.header_row for t in data}
    meta["header_row"] = first.header_row
    meta["header_source"] = first.header_source
    for table in data:
        meta["warnings"].extend(table.warnings)
    return RawTable(frame, part, part_names, meta)


# -------------------------------------------------------------------------------- parquet


def _read_parquet(path: Path, what: str) -> RawTable:
    """A Parquet file as stored (``pd.read_parquet``), column names stripped."""
    meta = _meta("parquet", "pyarrow.parquet")
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # noqa: BLE001 - re-raised with the file named
        raise DataError(f"{path}: could not read {what} as parquet: {exc}") from exc
    names = [n.replace("\ufeff", "").strip() if isinstance(n, str) else n for n in frame.columns]
    _refuse_duplicates([str(n) for n in names], path, what)
    frame.columns = names
    return RawTable(frame, None, [], meta)
