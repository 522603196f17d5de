"""Job outputs: a set of files appears whole or not at all, one job writes a folder at a time,
every JSON is valid JSON, the CSV is safe to open in a spreadsheet, and a signal ends the
MLflow runs of the job as KILLED.

**Output sets.** ``OutputSet(out)`` is a context manager. Inside it a job writes its files into
a fresh staging folder beside the target, ``<out>.staging-<pid>-<random>``; on a clean exit the
whole folder is swapped in. The swap is ``renameat2(staging, out, RENAME_EXCHANGE)`` (Linux
>= 3.15 on ext4, xfs, btrfs, tmpfs, ...): one system call that exchanges the two directory
entries, so at every instant ``<out>`` is a real directory holding either the complete old set
or the complete new one. A reader that lists ``<out>`` during the swap sees one or the other
(a reader that opened a file before the swap keeps reading the old file: its inode lives on
until closed). Afterwards the staging name holds the old set and is deleted. Why not the other
designs: renaming the old folder away and the new one in leaves an instant with no ``<out>``;
``<out>`` as a symlink to versioned folders would make the user's folder a symlink and break
tools that expect a directory. When the file system refuses the exchange (EINVAL/ENOSYS, e.g.
some network file systems, or no ``renameat2`` in the C library) the swap falls back to three
renames: staging -> ``<out>.ready-<token>`` (marks the new set complete), ``<out>`` ->
``<out>.old-<token>``, ready -> ``<out>``; during the microseconds between the last two there
is no ``<out>`` (never a mix), and a crash there is repaired by the next job (below).

**What the set replaces.** The set replaces only what the job writes: at commit, every entry of
the old folder that the staging folder lacks is carried over into it (hard links, a copy where
the file system has none; folders merged recursively), so a user's notes or the
``evaluation/`` folder of ``scoring run`` survive a ``scoring score`` into the same folder. A job
*claims* entries it owns but may not write this time (``claim("plots")``, or
``claims=(...)``): those are not carried over, so e.g. a stale ``recommendations.parquet`` does
not outlive an evaluation without recommenders. The carried-over entries are a snapshot taken
just before the swap: a file edited in place after that (same inode) keeps the edit, a file
replaced by a new one (an editor's save-by-rename) in that instant loses it. Because the folder
is replaced as a whole, ``--out`` should be a folder dedicated to outputs; a shell whose working
directory is ``<out>`` stays in the old (deleted) folder until it ``cd``s again. ``<out>`` must
be a folder (or absent) whose parent the job can write; a symlinked ``<out>`` is resolved and
its target swapped (the symlink stays).

**One job per folder.** ``<out>.lock`` (beside the folder, never deleted: deleting a lock file
other processes may have open breaks mutual exclusion) is held with ``fcntl.flock`` from the
creation of the staging folder until its last trace is gone. A second job on the same folder
waits up to ``wait`` seconds (default ``SCORING_OUTPUT_WAIT`` or 0) and then raises
``DataError`` naming the pid and start time of the holder, so the CLI exits 2 without a
traceback. flock is released by the kernel when the holder dies, even by SIGKILL.

**Crash recovery.** A job killed (SIGKILL, power loss) leaves ``<out>`` with the old or the new
set plus leftovers: a staging folder (half written, or holding the old set after the
exchange), or in the fallback swap a ``ready``/``old`` folder and possibly no ``<out>``. The
next job on the folder, once it holds the lock, can prove every such leftover dead: a live job
keeps the lock for as long as any of its folders exist. It then restores a missing ``<out>``
(from the complete ``ready`` folder, else from the ``old`` one) and deletes the rest;
``recover(out)`` does only this. Files are fsynced before the swap and the parent folder after
it, so a power loss cannot expose a swapped-in set with empty files.

**Single files.** ``write_json``, ``write_parquet``, ``write_csv`` and ``write_jsonl`` write one
file atomically through a temporary file with a unique name (``.tmp-<pid>-<random>.<name>``,
hidden so that folder readers such as Spark and pyarrow skip it), renamed into place; inside an
``OutputSet`` use its methods (``files.write_csv(frame, "scores.csv")``), which write into the
staging folder and return the final path.

**JSON** is strict: NaN and infinities become ``null``, numpy and pandas scalars plain numbers,
timestamps ISO 8601 text, and ``allow_nan=False`` guards the result. **CSV** text cells that a
spreadsheet would run as a formula (starting with ``= + - @``, tab or carriage return) get a
leading single quote (OWASP "CSV injection"); numeric columns are left alone, so negative
numbers stay numbers; a carriage return inside a text cell, which the CSV writer would leave
unquoted and readers take as a row end, is written as a quoted line break.

**Signals.** ``handle_termination()`` turns SIGTERM into ``Terminated`` (a ``SystemExit`` with
code 128 + signal number: no traceback) and SIGINT into ``KeyboardInterrupt``, raised in the main
thread so ``with`` blocks unwind: the staging folder of an ``OutputSet`` is removed and the old
set stays; ``with mlflow.start_run()`` ends its run (FAILED, MLflow's status for an
exception), and the context manager then sets every run that was active when the signal came
to KILLED. SIGKILL cannot be handled: its runs stay RUNNING in MLflow.

This module imports only the standard library at import time (numpy and pandas are recognised
when already loaded; the ``DataError`` is imported on use) so that it costs nothing to import.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import json
import math
import os
import re
import secrets
import shutil
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import date, datetime, timedelta
from datetime import time as day_time
from decimal import Decimal
from pathlib import Path, PurePosixPath
from typing import Any

WAIT_ENV = "SCORING_OUTPUT_WAIT"
"""Environment variable: seconds a job waits for another job writing the same folder
(default 0: fail at once)."""

FORMULA_PREFIXES: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet read a CSV cell as a formula (OWASP)."""

_TOKEN = r"\d+-[0-9a-f]{12}"
_LEFTOVER = re.compile(rf"^(?P<name>.+)\.(?P<kind>staging|ready|old)-{_TOKEN}$")
_TEMP_FILE = re.compile(rf"^\.tmp-{_TOKEN}\.")


def _token() -> str:
    """``<pid>-<12 random hex digits>``: unique across processes and across calls."""
    return f"{os.getpid()}-{secrets.token_hex(6)}"


# --------------------------------------------------------------------------- JSON


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON types, recursively: NaN, infinities, None, ``pd.NA`` and
    ``NaT`` -> None; numpy and pandas scalars -> bool/int/float; timestamps, dates and times ->
    ISO 8601 text; durations -> ISO 8601 durations; arrays, Series, tuples and sets -> lists;
    mapping keys -> text. Anything else becomes ``str(value)`` (what ``default=str`` did)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {_json_key(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    if isinstance(value, (set, frozenset)):
        return sorted((jsonable(item) for item in value), key=lambda item: json.dumps(item))
    np = sys.modules.get("numpy")
    pd = sys.modules.get("pandas")
    if pd is not None:
        if value is pd.NA or value is pd.NaT:
            return None
        if isinstance(value, (pd.Series, pd.Index)):
            return [jsonable(item) for item in value.tolist()]
        if isinstance(value, pd.DataFrame):
            return jsonable(value.to_dict(orient="records"))
        if isinstance(value, pd.Timedelta):
            return value.isoformat()
    if np is not None:
        if isinstance(value, np.ndarray):
            return jsonable(value.tolist())
        if isinstance(value, np.datetime64):
            return None if np.isnat(value) else jsonable(pd.Timestamp(value) if pd is not None
                                                          else str(value))
        if isinstance(value, np.timedelta64):
            return None if np.isnat(value) else (pd.Timedelta(value).isoformat()
                                                 if pd is not None else str(value))
        if isinstance(value, np.generic):
            return jsonable(value.item())
    if isinstance(value, (datetime, date, day_time)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return pd.Timedelta(value).isoformat() if pd is not None else str(value)
    if isinstance(value, Decimal):
        return jsonable(float(value))
    return str(value)


def _json_key(key: Any) -> str:
    """A mapping key as JSON text (json would turn numbers into text anyway; numpy numbers
    and timestamps it refuses)."""
    if isinstance(key, str):
        return key
    plain = jsonable(key)
    return plain if isinstance(plain, str) else json.dumps(plain)


def dumps(data: Any, indent: int | None = 2) -> str:
    """Strict JSON text of ``data`` (see ``jsonable``); ``allow_nan=False`` guards the rest."""
    return json.dumps(jsonable(data), indent=indent, allow_nan=False)


# --------------------------------------------------------------------------- CSV


def escape_cell(value: Any) -> Any:
    """A text cell that starts like a formula, with a leading single quote; anything else as
    it is."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def escape_formulas(frame):
    """``frame`` with its text cells (and column names) escaped for spreadsheets (OWASP CSV
    injection): a cell of a text column (object, string or category dtype) that starts with
    ``= + - @``, tab or carriage return gets a leading ``'``. Numeric, boolean and date
    columns are untouched (``-3.5`` stays a number); so are non-text values inside object
    columns. Returns ``frame`` itself when nothing needs escaping, else a shallow copy."""
    import pandas as pd

    changed: dict[Any, Any] = {}
    for position in range(frame.shape[1]):
        series = frame.iloc[:, position]
        dtype = series.dtype
        if isinstance(dtype, pd.CategoricalDtype):
            series = series.astype(object)
        elif not (pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype)):
            continue
        try:
            mask = series.str.startswith(FORMULA_PREFIXES)
            mask = mask.where(mask.notna(), False).astype(bool)
        except AttributeError:  # an object column without text (lists, numbers)
            mask = series.map(lambda v: isinstance(v, str) and v.startswith(FORMULA_PREFIXES))
            mask = mask.astype(bool)
        if mask.any():
            escaped = series.copy()
            escaped[mask] = "'" + series[mask]  # text cells only: the mask is False elsewhere
            changed[position] = escaped
    names = [escape_cell(c) for c in frame.columns]
    if not changed and names == list(frame.columns):
        return frame
    result = frame.copy(deep=False)
    for position, escaped in changed.items():
        result.isetitem(position, escaped)
    result.columns = names
    return result


# --------------------------------------------------------------------------- single files


def atomic_file(path: str | Path, write: Callable[[Path], object], durable: bool = True) -> Path:
    """Write ``path`` through ``write(temporary path)`` and a rename: readers see the old file
    or the complete new one, a failed or killed writer leaves the old file (a SIGKILL leaves
    the hidden temporary file behind). The temporary name is unique (pid and random token), so
    concurrent writers of one path never share it: the last rename wins whole."""
    path = Path(path)
    tmp = path.with_name(f".tmp-{_token()}.{path.name}")
    try:
        write(tmp)
        if durable:
            _fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    return path


def write_json(data: Any, path: str | Path) -> Path:
    """Strict JSON (``dumps``), indented, atomically."""
    text = dumps(data) + "\n"
    return atomic_file(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_parquet(frame, path: str | Path) -> Path:
    """Parquet without the index, atomically."""
    return atomic_file(path, lambda tmp: frame.to_parquet(tmp, index=False))


def quote_line_breaks(frame):
    """``frame`` with carriage returns in text cells turned into ``\n``. Python's CSV writer
    (line terminator ``\n``) quotes a cell holding ``\n`` but not one holding a bare ``\r``,
    which spreadsheets and CSV readers take as the end of the row: ``"Bob\r=HYPERLINK(..)"``
    would start a new row with a live formula. Returns ``frame`` itself when no cell has one."""
    import pandas as pd

    changed = {}
    for position in range(frame.shape[1]):
        series = frame.iloc[:, position]
        if isinstance(series.dtype, pd.CategoricalDtype):
            series = series.astype(object)
        elif not (pd.api.types.is_object_dtype(series.dtype)
                  or pd.api.types.is_string_dtype(series.dtype)):
            continue
        try:
            has_cr = series.str.contains("\r", regex=False)
            has_cr = has_cr.where(has_cr.notna(), False).astype(bool)
        except AttributeError:  # an object column without text (lists, numbers)
            has_cr = series.map(lambda v: isinstance(v, str) and "\r" in v).astype(bool)
        if has_cr.any():
            fixed = series.astype(object).copy()
            fixed[has_cr] = [v.replace("\r\n", "\n").replace("\r", "\n")
                             for v in series[has_cr]]
            changed[position] = fixed
    if not changed:
        return frame
    result = frame.copy(deep=False)
    for position, fixed in changed.items():
        result.isetitem(position, fixed)
    return result


def write_csv(frame, path: str | Path, escape: bool = True) -> Path:
    """CSV without the index, atomically; unless ``escape=False``, text cells escaped against
    formula injection (``escape_formulas``) and their carriage returns written as quoted line
    breaks (``quote_line_breaks``)."""
    table = quote_line_breaks(escape_formulas(frame)) if escape else frame
    return atomic_file(path, lambda tmp: table.to_csv(tmp, index=False))


def write_jsonl(frame, path: str | Path) -> Path:
    """JSON Lines (one object per row; NaN, infinities and NaT as null, timestamps ISO 8601),
    atomically."""
    return atomic_file(path, lambda tmp: frame.to_json(
        tmp, orient="records", lines=True, date_format="iso", force_ascii=False))


# --------------------------------------------------------------------------- output sets


class _Files:
    """The writing side of an output set, rooted at ``prefix`` inside it (see ``folder``)."""

    _root: OutputSet
    _prefix: PurePosixPath

    def _relative(self, relative: str | os.PathLike) -> PurePosixPath:
        rel = PurePosixPath(os.fspath(relative))
        if rel.is_absolute() or ".." in rel.parts:
            raise ValueError(f"{relative!r}: give a path inside the output folder")
        return self._prefix / rel

    def path(self, relative: str | os.PathLike = "") -> Path:
        """Where to write ``relative`` now: its place in the staging folder (parent folders
        created). For writers this module does not cover (``figure.savefig(files.path(...))``)."""
        staging = self._root._active_staging()
        place = staging.joinpath(*self._relative(relative).parts)
        place.parent.mkdir(parents=True, exist_ok=True)
        return place

    def final(self, relative: str | os.PathLike = "") -> Path:
        """Where ``relative`` will be once the set is committed (what to report)."""
        return self._root.target.joinpath(*self._relative(relative).parts)

    def claim(self, *relative: str | os.PathLike) -> None:
        """Own ``relative`` entries: not carried over from the old folder even when this job
        does not write them (an old file that this job would have replaced, had it written it)."""
        for rel in relative:
            self._root._claims.add(self._relative(rel))

    def folder(self, relative: str | os.PathLike) -> OutputFolder:
        """The sub-folder ``relative`` of this set, with the same methods (for a function that
        writes a folder of its own, such as the evaluation inside ``scoring run``)."""
        return OutputFolder(self._root, self._relative(relative))

    def write_json(self, data: Any, relative: str | os.PathLike) -> Path:
        write_json(data, self.path(relative))
        return self.final(relative)

    def write_parquet(self, frame, relative: str | os.PathLike) -> Path:
        write_parquet(frame, self.path(relative))
        return self.final(relative)

    def write_csv(self, frame, relative: str | os.PathLike, escape: bool = True) -> Path:
        write_csv(frame, self.path(relative), escape=escape)
        return self.final(relative)

    def write_jsonl(self, frame, relative: str | os.PathLike) -> Path:
        write_jsonl(frame, self.path(relative))
        return self.final(relative)


class OutputFolder(_Files):
    """A sub-folder of an open ``OutputSet``: same writing methods, committed with the set."""

    def __init__(self, root: OutputSet, prefix: PurePosixPath):
        self._root = root
        self._prefix = prefix

    def __repr__(self) -> str:
        return f"OutputFolder({str(self.final())!r})"


class OutputSet(_Files):
    """The output files of one job, swapped into ``out`` together on a clean exit of the
    ``with`` block (or at ``commit()``), discarded on an exception; see the module docstring
    for the swap, the lock and the recovery.

    ``wait``: seconds to wait for another job writing ``out`` (default: ``SCORING_OUTPUT_WAIT``
    or 0), then ``DataError``. ``claims``: entries of ``out`` this job owns even if it does not
    write them (not carried over). ``durable``: fsync the files before the swap.
    """

    def __init__(self, out: str | os.PathLike, *, wait: float | None = None,
                 claims: Iterable[str] = (), durable: bool = True):
        self.target = Path(out)
        self.wait = _wait_seconds(wait)
        self.durable = durable
        self._root = self
        self._prefix = PurePosixPath()
        self._claims: set[PurePosixPath] = set()
        self.claim(*claims)
        self.staging: Path | None = None
        self.committed = False
        self._lock: _Lock | None = None
        self._real: Path | None = None

    def __repr__(self) -> str:
        return f"OutputSet({str(self.target)!r})"

    @property
    def real_target(self) -> Path:
        """The folder that is swapped: ``out`` (absolute), or the target of ``out`` if it is a
        symlink; fixed when the set opens."""
        return self._real if self._real is not None else _real_target(self.target)

    def __enter__(self) -> OutputSet:
        if self._lock is not None or self.committed:
            raise RuntimeError(f"{self!r} is open or used: make a new OutputSet per job")
        real = self._real = _real_target(self.target)
        _check_target(real, self.target)
        self._lock = _Lock.acquire(real, self.wait, shown=self.target)
        try:
            _recover(real)
            self.staging = real.with_name(f"{real.name}.staging-{_token()}")
            self.staging.mkdir()
        except BaseException:
            self._lock.release()
            self._lock = None
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            if exc_type is None and not self.committed:
                self.commit()
        finally:
            try:
                if self.staging is not None:
                    _discard(self.staging)
            finally:
                if self._lock is not None:
                    self._lock.release()
                    self._lock = None
        return False

    def _active_staging(self) -> Path:
        if self.staging is None or self._lock is None:
            raise RuntimeError(f"{self!r}: write inside `with OutputSet(...)`")
        if self.committed:
            raise RuntimeError(f"{self!r} is already committed")
        return self.staging

    def commit(self) -> None:
        """Swap the staging folder in now (the ``with`` block does it on a clean exit): carry
        over the old folder's other entries, fsync, exchange, delete the old set. After this
        the set takes no more files; the lock is held until the ``with`` block ends."""
        staging = self._active_staging()
        real = self.real_target
        if real.is_dir():
            _carry_over(real, staging, self._claims)
        if self.durable:
            _fsync_tree(staging)
        with _signals_deferred():
            try:
                leftover = _swap(staging, real)
            except BaseException:
                with contextlib.suppress(OSError):
                    _recover(real)  # a fallback swap cut half-way: put a complete set back
                raise
            self.committed = True
            self.staging = leftover  # the old set, deleted below or (if interrupted) on exit
        if self.durable:
            _fsync_dir(real.parent)
        if leftover is not None:
            _discard(leftover)
        self.staging = None


def recover(out: str | os.PathLike, wait: float | None = None) -> list[Path]:
    """Repair what killed jobs left beside ``out`` (under its lock): restore a missing ``out``
    from a complete ``ready`` or ``old`` folder, delete staging/ready/old leftovers. Returns the
    folders found. Every ``OutputSet`` does this when it opens."""
    real = _real_target(Path(out))
    _check_target(real, Path(out))
    lock = _Lock.acquire(real, _wait_seconds(wait), shown=Path(out))
    try:
        return _recover(real)
    finally:
        lock.release()


def _wait_seconds(wait: float | None) -> float:
    if wait is not None:
        return max(float(wait), 0.0)
    text = os.environ.get(WAIT_ENV, "").strip()
    try:
        return max(float(text), 0.0) if text else 0.0
    except ValueError:
        raise _data_error(f"{WAIT_ENV}={text!r} is not a number of seconds") from None


def _real_target(target: Path) -> Path:
    """The folder to swap: a symlinked ``out`` is resolved (the link stays a link)."""
    target = Path(os.path.abspath(target))
    return target.resolve() if target.is_symlink() else target


def _check_target(real: Path, shown: Path) -> None:
    if os.path.lexists(real) and not real.is_dir():
        raise _data_error(f"{shown} is a file, not a folder: --out names the folder the outputs "
                          "go to")
    if real.is_dir() and os.path.ismount(real):
        raise _data_error(f"{shown} is a mount point: the output set is swapped in as a whole "
                          "folder, so choose a folder inside it as --out")
    try:
        real.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _data_error(f"cannot create the folder {real.parent}: {exc.strerror}") from None
    if not os.access(real.parent, os.W_OK | os.X_OK):
        raise _data_error(
            f"cannot write {real.parent}: the outputs are staged beside {shown.name} and swapped "
            "in whole, so --out needs a parent folder you can write")


def _data_error(message: str) -> Exception:
    from .data.errors import DataError

    return DataError(message)


def _leftovers(real: Path) -> list[tuple[str, Path]]:
    """(kind, path) of every staging/ready/old folder of ``real``, oldest first."""
    found = []
    try:
        entries = list(os.scandir(real.parent))
    except FileNotFoundError:
        return []
    for entry in entries:
        match = _LEFTOVER.match(entry.name)
        if match and match["name"] == real.name:
            try:
                mtime = entry.stat(follow_symlinks=False).st_mtime
            except FileNotFoundError:
                continue
            found.append((mtime, match["kind"], Path(entry.path)))
    return [(kind, path) for _, kind, path in sorted(found)]


def _recover(real: Path) -> list[Path]:
    """Under the lock of ``real``: every leftover belongs to a dead job (a live one would hold
    the lock). Restore a missing ``real`` (a fallback swap cut between its renames: the ready
    folder is a complete new set, the old folder the complete old one), delete the rest."""
    leftovers = _leftovers(real)
    if not os.path.lexists(real):
        for kind in ("ready", "old"):
            candidates = [path for k, path in leftovers if k == kind]
            if candidates:
                os.rename(candidates[-1], real)
                break
    for _, path in leftovers:
        if os.path.lexists(path):
            _discard(path)
    return [path for _, path in leftovers]


def _carry_over(old: Path, new: Path, claims: set[PurePosixPath],
                prefix: PurePosixPath = PurePosixPath()) -> None:
    """Give ``new`` every entry of ``old`` it lacks, except claimed ones and the leftovers and
    temporary files of jobs (hard links, a copy where links fail; folders merged)."""
    for entry in os.scandir(old):
        rel = prefix / entry.name
        if rel in claims or _LEFTOVER.match(entry.name) or _TEMP_FILE.match(entry.name):
            continue
        dest = new / entry.name
        if entry.is_dir(follow_symlinks=False):
            if not os.path.lexists(dest):
                dest.mkdir()
                shutil.copystat(entry.path, dest, follow_symlinks=False)
            elif not dest.is_dir() or dest.is_symlink():
                continue  # the job wrote a file (or link) there: it wins
            _carry_over(Path(entry.path), dest, claims, rel)
        elif not os.path.lexists(dest):
            if entry.is_symlink():
                os.symlink(os.readlink(entry.path), dest)
            else:
                try:
                    os.link(entry.path, dest, follow_symlinks=False)
                except OSError:
                    shutil.copy2(entry.path, dest, follow_symlinks=False)


def _swap(staging: Path, real: Path) -> Path | None:
    """Put ``staging`` at ``real``; return the path that now holds the old set (to delete), or
    None when there was none."""
    if not os.path.lexists(real):
        _move(staging, real)
        return None
    try:
        _exchange(staging, real)
        return staging
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
    token = _token()
    ready = real.with_name(f"{real.name}.ready-{token}")
    old = real.with_name(f"{real.name}.old-{token}")
    _move(staging, ready)
    _move(real, old)
    _move(ready, real)
    return old


def _move(source: Path, dest: Path) -> None:
    """``rename(2)`` (one function, so that tests can pause between the renames)."""
    os.rename(source, dest)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
_renameat2: Any = None


def _exchange(first: Path, second: Path) -> None:
    """Atomically exchange two paths (``renameat2(..., RENAME_EXCHANGE)``); OSError(ENOSYS)
    where the C library lacks it, EINVAL where the file system refuses."""
    global _renameat2
    if _renameat2 is None:
        try:
            function = ctypes.CDLL(None, use_errno=True).renameat2
        except (AttributeError, OSError):
            function = False
        else:
            function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                                 ctypes.c_uint]
            function.restype = ctypes.c_int
        _renameat2 = function
    if not _renameat2:
        raise OSError(errno.ENOSYS, "renameat2 is not available")
    if _renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second),
                  _RENAME_EXCHANGE) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), str(first), None, str(second))


def _discard(path: Path) -> None:
    """Delete a folder of the machinery (what remains after an interruption is a leftover the
    next job deletes)."""
    shutil.rmtree(path, ignore_errors=True)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # some file systems refuse fsync on folders
        _fsync_file(path)


def _fsync_tree(root: Path) -> None:
    """fsync every file and folder under ``root`` (already synced files cost nothing)."""
    for folder, _, files in os.walk(root):
        for name in files:
            path = Path(folder, name)
            if not path.is_symlink():
                _fsync_file(path)
        _fsync_dir(Path(folder))


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGTERM and SIGINT back (in the main thread) while the swap runs, so a handler's
    exception never lands between two of its steps; they are delivered right after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = {signal.SIGTERM, signal.SIGINT}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


# --------------------------------------------------------------------------- lock


class _Lock:
    """``<out>.lock`` held with ``flock``; the holder writes its pid, host, start time and
    command into it for the message of the next job."""

    def __init__(self, fd: int, path: Path):
        self.fd = fd
        self.path = path

    @classmethod
    def acquire(cls, real: Path, wait: float, shown: Path) -> _Lock:
        path = real.with_name(real.name + ".lock")
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
            writable = True
        except PermissionError:  # another user's lock file: locking needs no write access
            fd = os.open(path, os.O_RDONLY)
            writable = False
        try:
            deadline = time.monotonic() + wait
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise _data_error(_busy_message(fd, shown, wait)) from None
                    time.sleep(min(0.05, remaining))
            if writable:
                holder = json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                     "started_at": datetime.now().astimezone()
                                     .isoformat(timespec="seconds"),
                                     "command": " ".join(sys.argv)[:500]})
                os.ftruncate(fd, 0)
                os.pwrite(fd, (holder + "\n").encode(), 0)
        except BaseException:
            os.close(fd)
            raise
        return cls(fd, path)

    def release(self) -> None:
        """Unlock and close (the file stays)."""
        with contextlib.suppress(OSError):
            os.ftruncate(self.fd, 0)
        os.close(self.fd)


def _busy_message(fd: int, shown: Path, wait: float) -> str:
    holder: dict = {}
    for _ in range(3):  # the holder may be between truncating and writing its line
        with contextlib.suppress(OSError, ValueError):
            holder = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
        if holder:
            break
        time.sleep(0.02)
    who = f"pid {holder.get('pid', 'unknown')}"
    if holder.get("host") and holder["host"] != socket.gethostname():
        who += f" on {holder['host']}"
    who += f", started at {holder.get('started_at', 'an unknown time')}"
    waited = f" (waited {wait:g} s)" if wait else ""
    return (f"another scoring job ({who}) is writing {shown}{waited}; wait for it or choose "
            f"another --out (set {WAIT_ENV}=SECONDS to wait for it)")


# --------------------------------------------------------------------------- signals


class Terminated(SystemExit):
    """SIGTERM (or another handled signal) received: exits with 128 + the signal number and no
    traceback when nothing catches it; ``except Exception`` does not catch it."""

    def __init__(self, signum: int):
        super().__init__(128 + signum)
        self.signum = signum


@contextlib.contextmanager
def handle_termination(signals: Iterable[int] = (signal.SIGTERM, signal.SIGINT)
                       ) -> Iterator[None]:
    """Inside the block SIGTERM raises ``Terminated`` and SIGINT ``KeyboardInterrupt`` (in the
    main thread; elsewhere this does nothing), so ``with`` blocks clean up: output sets are
    discarded, MLflow runs end. On the way out every MLflow run that was active when the
    signal came is set to KILLED (``ActiveRun.__exit__`` has marked it FAILED), and any run
    still active is ended KILLED. A second signal while the job unwinds is ignored so that the
    cleanup finishes (SIGKILL still ends it). Previous handlers are restored on exit.

    The CLI wraps its command in it: ``with outputs.handle_termination(): return
    args.func(args)``."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    interrupted: list[str] = []
    state = {"signalled": False}

    def handler(signum, frame):
        for run_id in _active_run_ids():
            if run_id not in interrupted:
                interrupted.append(run_id)
        if state["signalled"]:
            return
        state["signalled"] = True
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise Terminated(signum)

    previous = {signum: signal.signal(signum, handler) for signum in signals}
    try:
        yield
    except (Terminated, KeyboardInterrupt):
        state["signalled"] = True  # ignore further signals while the runs are marked
        _end_runs_killed(interrupted)
        raise
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def _active_run_ids() -> list[str]:
    """Run ids of this thread's active MLflow runs, outermost first (none if MLflow was never
    imported)."""
    mlflow = sys.modules.get("mlflow")
    if mlflow is None:
        return []
    try:
        from mlflow.tracking import fluent

        return [run.info.run_id for run in fluent._active_run_stack.get()]
    except Exception:  # a private detail of MLflow: fall back to the innermost run
        run = mlflow.active_run()
        return [run.info.run_id] if run is not None else []


def _end_runs_killed(run_ids: list[str]) -> None:
    """End still-active runs and set ``run_ids`` to KILLED; report, never raise (the job is
    exiting on a signal already)."""
    mlflow = sys.modules.get("mlflow")
    if mlflow is None:
        return
    try:
        ids = list(dict.fromkeys([*run_ids, *_active_run_ids()]))
        while mlflow.active_run() is not None:
            mlflow.end_run(status="KILLED")
        client = mlflow.MlflowClient()
        for run_id in ids:
            client.set_terminated(run_id, status="KILLED")
    except Exception as exc:  # noqa: BLE001 - the store may be unreachable; say so and go on
        print(f"warning: could not mark MLflow runs {run_ids} KILLED: {exc}", file=sys.stderr)
