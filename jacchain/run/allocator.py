"""Freed memory kept by the C allocator while jacchain measures.

glibc's malloc gives large blocks back to the kernel when they are freed (blocks above its
mmap threshold, and a trimmed heap top), so the next array of that size faults on every page
it touches. On this project's virtual machine a page fault costs about 6 microseconds: a
surrogate elemental's tangent spent 2.1 of its 2.9 ms faulting, a 512-wide chain's loss-first
order a fifth of its time. A timing would then measure the kernel zeroing pages, which the
time model does not price and a long-running program does not pay. So before its first
measurement jacchain asks glibc (mallopt) to keep freed memory below 32 MiB in the process,
once, process-wide; blocks above that are mapped and unmapped as before. Elsewhere (macOS,
musl) nothing changes. JACCHAIN_KEEP_FREED=0 leaves the allocator alone."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 2**20  # glibc's ceiling for the mmap threshold on 64-bit
TRIM_THRESHOLD = 2**30

_kept: bool | None = None


def keep_freed_memory() -> bool:
    """Ask glibc to keep freed memory (once); whether the allocator now keeps it."""
    global _kept
    if _kept is None:
        _kept = os.environ.get("JACCHAIN_KEEP_FREED", "1") != "0" and _mallopt()
    return _kept


def _mallopt() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
