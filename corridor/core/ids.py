"""Time-sortable identifiers (UUIDv7, RFC 9562): ids sort by creation time in every store."""

from __future__ import annotations

import os
import threading
import time

_lock = threading.Lock()
_last_ms = 0
_counter = 0
# Random bits are read from the OS 4 KiB at a time: one system call per 512 ids rather than
# one per id (each call also gives up the GIL to whichever thread wants it).
_POOL = 4096
_pool = b""
_pos = _POOL


def new_id() -> str:
    """A UUIDv7 string. Within one millisecond a 12-bit counter keeps ids increasing."""
    global _last_ms, _counter, _pool, _pos
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            ms = _last_ms
            _counter += 1
            if _counter > 0xFFF:  # counter exhausted: borrow the next millisecond
                ms += 1
                _counter = 0
        else:
            _counter = 0
        _last_ms = ms
        counter = _counter
        if _pos == _POOL:
            _pool, _pos = os.urandom(_POOL), 0
        rand = int.from_bytes(_pool[_pos:_pos + 8], "big") & ((1 << 62) - 1)
        _pos += 8
    h = f"{(ms << 80) | (0x7 << 76) | (counter << 64) | (0b10 << 62) | rand:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"  # str(uuid.UUID(...)), faster


def _forget_pool() -> None:
    """A forked child must not hand out the random bits its parent still holds."""
    global _pos
    _pos = _POOL


os.register_at_fork(after_in_child=_forget_pool)
