"""Google's numpy-bitmap files: their `.npy` header, read from the first bytes and checked."""

from __future__ import annotations

import io

import numpy as np

from .errors import QuickdrawError

ROW_BYTES = 28 * 28
HEADER_BYTES = 4096  # Google's headers are 128 bytes; one request covers any realistic header


def parse_npy_header(head: bytes, where: str) -> tuple[tuple[int, ...], np.dtype, int]:
    """Shape, dtype and data offset of an .npy file from its first bytes."""
    if not head.startswith(b"\x93NUMPY"):
        hint = " (an HTML page: a failed download?)" if head.lstrip()[:1] == b"<" else ""
        raise QuickdrawError(f"{where}: not a .npy file, starts with {head[:15]!r}{hint}")
    fp = io.BytesIO(head)
    try:
        version = np.lib.format.read_magic(fp)
        reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = reader(fp)
    except (ValueError, EOFError) as e:
        raise QuickdrawError(f"{where}: corrupt .npy header ({e})") from None
    if fortran:
        raise QuickdrawError(f"{where}: Fortran-ordered arrays are not supported")
    return shape, dtype, fp.tell()


def check_bitmap_header(shape, dtype, where: str) -> int:
    """The number of drawings in a Google numpy-bitmap file, or a clear error."""
    if dtype != np.uint8:
        raise QuickdrawError(f"{where}: dtype is {dtype}, expected uint8 (Google's numpy-bitmap format)")
    if len(shape) != 2 or shape[1] != ROW_BYTES:
        raise QuickdrawError(f"{where}: shape is {shape}, expected (N, 784) rows of 28x28 drawings")
    return int(shape[0])
