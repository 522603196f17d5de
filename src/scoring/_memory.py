"""Hand freed memory back to the operating system between the big steps of a fit."""

from __future__ import annotations

import ctypes
import gc


def release_memory() -> None:
    """Collect garbage, release pyarrow's unused pool memory and trim glibc's heap.

    Large pandas/numpy temporaries are freed into the allocators, which keep the pages: the
    resident memory of a 1M-customer fit then stays ~2 GB above what is alive. Results do
    not change; only the peak resident memory of the steps that follow does.
    """
    gc.collect()
    try:
        import pyarrow as pa

        pa.default_memory_pool().release_unused()
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        pass
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to trim
        pass
