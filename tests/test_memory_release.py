"""``scoring._memory.release_memory`` only works when there is memory to hand back."""

from __future__ import annotations

import gc

from scoring import _memory


def test_resident_bytes_is_the_process_size():
    resident = _memory.resident_bytes()
    assert resident is None or 10 << 20 < resident < 64 << 30


def test_small_process_skips_the_collection(monkeypatch):
    calls = []
    monkeypatch.setattr(gc, "collect", lambda *a: calls.append(a) or 0)
    _memory.release_memory(min_resident_bytes=1 << 50)
    assert calls == []
    _memory.release_memory(min_resident_bytes=0)
    assert len(calls) == 1
