"""ISO 8601 stamps (``2024-05-14 12:00:01,123``, ``2024-05-14T12:00:01.123456+02:00``) cut into numbers with numpy.

The layouts' regex has already checked each stamp's shape (``_iso`` of :data:`._layouts.ISO_STAMP`), so the
date and clock are fixed byte positions of the Arrow buffer, and the fraction and the zone are read from the
few bytes after them: no per-stamp Python, no string slices, no second regex.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

# Byte positions of the digits of year, month, day, hour, minute and second in "YYYY-MM-DDTHH:MM:SS".
_FIXED = {"Y": (0, 1, 2, 3), "mo": (5, 6), "d": (8, 9), "H": (11, 12), "M": (14, 15), "S": (17, 18)}
_TAIL = 19


def iso_parts(stamps):
    """Stamps (polars or Arrow strings, null where a line's layout had none) -> a polars frame of
    Y, mo, d, H, M, S, fns (fraction in ns, 0 when none) and zmin (offset in minutes, null when the stamp has no zone),
    every column null where the stamp is null."""
    import polars as pl

    arr = stamps.to_arrow() if isinstance(stamps, pl.Series) else stamps
    arr = arr.cast(pa.large_string())
    n = len(arr)
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset:arr.offset + n + 1]
    data = arr.buffers()[2]
    data = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(1, np.uint8)
    if arr.null_count == 0:  # every line has a stamp: its bounds are the offsets, no index array
        valid = None
        byte = _Bytes(data, offsets[:-1], offsets[1:] - offsets[:-1])
    else:
        valid = np.flatnonzero(~np.asarray(arr.is_null().to_numpy(zero_copy_only=False)))
        byte = _Bytes(data, offsets[:-1][valid], offsets[1:][valid] - offsets[:-1][valid])
    out = {name: byte.number(pos) for name, pos in _FIXED.items()}
    fns, zmin, zoned = _tail(byte)
    out["fns"], out["zmin"] = fns, zmin

    def full(v, present=None):
        if valid is None and (present is None or present.all()):  # every line has a stamp: no scatter
            return pa.array(v)
        if valid is None:
            return pa.array(v, mask=~present)
        col = np.zeros(n, dtype=np.int64)
        col[valid] = v
        mask = np.ones(n, dtype=bool)
        mask[valid if present is None else valid[present]] = False
        return pa.array(col, mask=mask)

    cols = {k: full(v) for k, v in out.items() if k != "zmin"}
    cols["zmin"] = full(zmin, zoned)
    return pl.from_arrow(pa.table(cols))


class _Bytes:
    """Byte ``pos`` of each stamp as int64 (0 past its end). Stamps of one length laid end to end (the
    usual case) are a (stamps x length) matrix over the buffer, no copy; others are gathered."""

    def __init__(self, data: np.ndarray, start: np.ndarray, size: np.ndarray):
        self.data, self.start, self.size = data, start, size
        self.m = m = len(start)
        width = int(size[0]) if m else 0
        self.matrix = None
        if m and (size == width).all() and int(start[-1] - start[0]) == (m - 1) * width:
            self.matrix = data[int(start[0]):int(start[0]) + m * width].reshape(m, width)

    def number(self, pos: tuple[int, ...]) -> np.ndarray:
        """The bytes at the consecutive positions ``pos`` read as decimal digits (``byte - 48`` each, so any
        byte gives the same number whichever way it is read). In the matrix, 2 or 4 of them are one big-endian
        integer per stamp, read with a stride over the buffer: one pass and one array instead of one per byte."""
        k = len(pos)
        if self.matrix is not None and k in (2, 4) and pos[-1] < self.matrix.shape[1]:
            x = self._word(pos[0], k)  # in place from here: each fresh array costs its pages' zeroing
            v = x >> 8 * (k - 1)
            part = np.empty_like(x) if k == 4 else None
            for shift in range(8 * (k - 2), 0, -8):  # the middle bytes, high to low
                np.right_shift(x, shift, out=part)
                part &= 255
                v *= 10
                v += part
            x &= 255
            v *= 10
            v += x
            v -= 48 * (1111 if k == 4 else 11)
            return v
        v = np.zeros(self.m, dtype=np.int64)
        for p in pos:
            v = v * 10 + self(p) - 48
        return v

    def _word(self, pos: int, k: int) -> np.ndarray:
        """Bytes ``pos`` .. ``pos + k - 1`` of every stamp of the matrix as one big-endian integer (int64)."""
        width = self.matrix.shape[1]
        first = int(self.start[0]) + pos
        words = np.ndarray((self.m,), dtype=f">u{k}", buffer=self.data, offset=first, strides=(width,))
        return words.astype(np.int64)

    def __call__(self, pos) -> np.ndarray:
        if self.matrix is not None and np.isscalar(pos):
            if pos >= self.matrix.shape[1]:
                return np.zeros(self.m, dtype=np.int64)
            return self.matrix[:, pos].astype(np.int64)
        got = self.data[np.minimum(self.start + pos, len(self.data) - 1)]
        return np.where(pos < self.size, got, 0).astype(np.int64)


def _tail(byte: _Bytes):
    """What follows the seconds: an optional ``[.,]digits`` fraction, then an optional zone
    (``Z``, ``+hh:mm``, ``+hhmm``): (fraction ns, zone minutes, has a zone)."""
    m, size = byte.m, byte.size
    width = int(size.max()) if m else 0
    fns = np.zeros(m, dtype=np.int64)
    zmin = np.zeros(m, dtype=np.int64)
    first = byte(_TAIL)
    has_frac = (first == 44) | (first == 46)  # "," or "."
    nfrac = np.zeros(m, dtype=np.int64)
    going = has_frac.copy()
    for j in range(_TAIL + 1, width):  # the run of fraction digits; the first 9 are nanoseconds, more are cut
        b = byte(j)
        going &= b >= 48
        going &= b <= 57
        if not going.any():
            break
        nfrac += going
        if j - _TAIL < 10:  # fns += (b - 48) * 10**(9 - digit) where going, in place
            b -= 48
            b *= going
            b *= 10 ** (9 - (j - _TAIL))
            fns += b
    z = _TAIL + np.where(has_frac, 1 + nfrac, 0)  # where the zone starts
    zoned = z < size
    zi = np.flatnonzero(zoned)
    if len(zi):  # only the stamps with a zone are read for it
        sub = _Bytes(byte.data, byte.start[zi], size[zi])
        zs = z[zi]

        def at(k):
            return sub(zs + k)

        sign = np.where(at(0) == 45, -1, 1)  # 45: "-"
        colon = at(3) == 58
        hh = (at(1) - 48) * 10 + at(2) - 48
        mm = np.where(colon, (at(4) - 48) * 10 + at(5) - 48, (at(3) - 48) * 10 + at(4) - 48)
        zmin[zi] = np.where(at(0) != 90, sign * (hh * 60 + mm), 0)  # 90: "Z"
    return fns, zmin, zoned
