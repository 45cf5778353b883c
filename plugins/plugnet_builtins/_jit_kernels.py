"""Fused loops compiled by numba (the ``jit`` extra), loaded only through
:func:`plugnet_builtins.jit.kernels`: importing this module imports numba.

Each kernel does in one pass over memory what the NumPy code does in several, for float32 and
float64 arrays (one compiled version each, cached on disk). They run on the calling thread and
release the GIL. The compiler may reorder sums and contract a·b + c into one fused multiply-add
(the ``reassoc`` and ``contract`` flags), never assume away NaN or infinity: a NaN in stays a NaN
out, as in NumPy.

tanh in float32 is a rational approximation (Eigen's, which PyTorch's CPU kernels use too), that
vectorizes: within 3e-7 of the exact value, against one tanh call per value otherwise. float64
calls the C library's tanh.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from numba import types
from numba.extending import overload

from plugnet.protocols import Array

_FLAGS = {"reassoc", "contract"}
_jit = numba.njit(cache=True, fastmath=_FLAGS, error_model="numpy", nogil=True)

# Row lengths summed in the array's dtype before the float64 total (batch_norm's _ROW_BLOCK).
# The sums loop over a slice of the row, ``for j in range(block.size)``: LLVM vectorizes that
# reduction, not one over ``range(start, min(start + ROW_BLOCK, length))`` (Σ of (64, 32, 1024)
# float32 values, 2.6 → 0.11 ms).
ROW_BLOCK = 1024


def fast_tanh(x: float) -> float:
    """tanh; compiled, a rational approximation for float32 (see the module's docstring)."""
    return float(np.tanh(x))


@overload(fast_tanh, jit_options={"fastmath": _FLAGS, "error_model": "numpy", "nogil": True})
def _fast_tanh(x: Any) -> Any:
    if x != types.float32:

        def exact(x: Any) -> Any:
            return np.tanh(x)

        return exact

    def rational(x: Any) -> Any:
        # Beyond ±9.0 tanh rounds to ±1 in float32; the polynomial holds to ±7.9053. The
        # comparisons keep a NaN a NaN.
        bound, one = np.float32(7.90531110763549805), np.float32(9.0)
        z = bound if x > bound else x
        z = -bound if z < -bound else z
        z2 = z * z
        p = z2 * np.float32(-2.76076847742355e-16) + np.float32(2.00018790482477e-13)
        p = z2 * p + np.float32(-8.60467152213735e-11)
        p = z2 * p + np.float32(5.12229709037114e-08)
        p = z2 * p + np.float32(1.48572235717979e-05)
        p = z2 * p + np.float32(6.37261928875436e-04)
        p = z2 * p + np.float32(4.89352455891786e-03)
        q = z2 * np.float32(1.19825839466702e-06) + np.float32(1.18534705686654e-04)
        q = z2 * q + np.float32(2.26843463243900e-03)
        q = z2 * q + np.float32(4.89352518554385e-03)
        ratio = z * p / q
        ratio = np.float32(1) if x >= one else ratio
        ratio = np.float32(-1) if x <= -one else ratio
        return x if abs(x) < np.float32(0.0004) else ratio  # tanh(x) = x to float32 there

    return rational


@_jit
def tanh(a: Array, out: Array) -> None:
    """out = tanh(a), both 1-D (the tests' check of :func:`fast_tanh`)."""
    for k in range(a.shape[0]):
        out[k] = fast_tanh(a[k])


# batch_norm over (N, C, L) arrays, C-contiguous: per-channel sums in float64 of per-row partial
# sums in the array's dtype, over blocks of ROW_BLOCK values.


@_jit
def channel_sums(x: Array) -> Array:
    """Σ x over axes 0 and 2, in float64, (C,)."""
    n, c, length = x.shape
    total = np.zeros(c)
    zero = x.dtype.type(0)
    for i in range(n):
        for ch in range(c):
            row = x[i, ch]
            for start in range(0, length, ROW_BLOCK):
                block, partial = row[start : start + ROW_BLOCK], zero
                for j in range(block.size):
                    partial += block[j]
                total[ch] += partial
    return total


@_jit
def centred_squares(x: Array, shift: Array) -> Array:
    """Σ (x − shift)² over axes 0 and 2 in float64, shift (C,) in x's dtype."""
    n, c, length = x.shape
    total = np.zeros(c)
    zero = x.dtype.type(0)
    for i in range(n):
        for ch in range(c):
            row, s = x[i, ch], shift[ch]
            for start in range(0, length, ROW_BLOCK):
                block, partial = row[start : start + ROW_BLOCK], zero
                for j in range(block.size):
                    d = block[j] - s
                    partial += d * d
                total[ch] += partial
    return total


@_jit
def shifted_dot(g: Array, x: Array, shift: Array) -> tuple[Array, Array]:
    """(Σ g, Σ g·(x − shift)) over axes 0 and 2, in float64."""
    n, c, length = x.shape
    sums, dots = np.zeros(c), np.zeros(c)
    zero = x.dtype.type(0)
    for i in range(n):
        for ch in range(c):
            rg, rx, s = g[i, ch], x[i, ch], shift[ch]
            for start in range(0, length, ROW_BLOCK):
                bg, bx = rg[start : start + ROW_BLOCK], rx[start : start + ROW_BLOCK]
                partial, dot = zero, zero
                for j in range(bg.size):
                    partial += bg[j]
                    dot += bg[j] * (bx[j] - s)
                sums[ch] += partial
                dots[ch] += dot
    return sums, dots


@_jit
def shift_scale(x: Array, shift: Array, scale: Array, offset: Array, out: Array) -> None:
    """out = (x − shift) · scale + offset, per channel (C,) factors in x's dtype."""
    n, c, length = x.shape
    for i in range(n):
        for ch in range(c):
            row, res, s, a, b = x[i, ch], out[i, ch], shift[ch], scale[ch], offset[ch]
            for j in range(length):
                res[j] = (row[j] - s) * a + b


@_jit
def batch_norm_dx(
    g: Array, x: Array, shift: Array, by_g: Array, by_x: Array, offset: Array, out: Array
) -> None:
    """out = g · by_g + (x − shift) · by_x + offset, per channel (C,) factors in x's dtype."""
    n, c, length = x.shape
    for i in range(n):
        for ch in range(c):
            rg, rx, res = g[i, ch], x[i, ch], out[i, ch]
            s, a, b, d = shift[ch], by_g[ch], by_x[ch], offset[ch]
            for j in range(length):
                res[j] = rg[j] * a + (rx[j] - s) * b + d


# lstm, one time step of (N, 4·H) gates in PyTorch's order i, f, g, o.


@_jit
def lstm_cell(
    gates: Array, scale: Array, shift: Array, c_prev: Array, c: Array, tc: Array, h: Array
) -> None:
    """The gates in place, gates = tanh(gates)·scale + shift (the pre-activations come scaled:
    σ(u) = ½ + ½·tanh(u/2)); then c = f ⊙ c_prev + i ⊙ g, tc = tanh(c), h = o ⊙ tc."""
    n, width = gates.shape
    units = width // 4
    for r in range(n):
        row = gates[r]
        for j in range(width):
            row[j] = fast_tanh(row[j]) * scale[j] + shift[j]
        cp, cr, tr, hr = c_prev[r], c[r], tc[r], h[r]
        for j in range(units):
            i, f, g, o = row[j], row[units + j], row[2 * units + j], row[3 * units + j]
            value = f * cp[j] + i * g
            cr[j] = value
            t = fast_tanh(value)
            tr[j] = t
            hr[j] = o * t


@_jit
def lstm_cell_backward(
    dh: Array,
    dh_out: Array,
    dc: Array,
    f_next: Array,
    has_next: bool,
    gates: Array,
    c_prev: Array,
    tc: Array,
    d_gates: Array,
) -> None:
    """One step back: with d = dh + dh_out and dc ← dc ⊙ f_next (if there is a next step) +
    d ⊙ o ⊙ (1 − tc²), d_gates = [dc ⊙ g ⊙ i(1 − i), dc ⊙ c_prev ⊙ f(1 − f), dc ⊙ i ⊙ (1 − g²),
    d ⊙ tc ⊙ o(1 − o)]. ``dc`` is updated in place."""
    n, units = dh.shape
    one = dh.dtype.type(1)
    for r in range(n):
        row, out = gates[r], d_gates[r]
        for j in range(units):
            d = dh[r, j] + dh_out[r, j]
            i, f, g, o = row[j], row[units + j], row[2 * units + j], row[3 * units + j]
            t = tc[r, j]
            carried = dc[r, j] * f_next[r, j] if has_next else dh.dtype.type(0)
            cell = carried + d * o * (one - t * t)
            dc[r, j] = cell
            out[j] = cell * g * i * (one - i)
            out[units + j] = cell * c_prev[r, j] * f * (one - f)
            out[2 * units + j] = cell * i * (one - g * g)
            out[3 * units + j] = d * t * o * (one - o)


# conv2d at stride 1 over whole padded rows (plugnet_builtins._im2col's im2col_rows and
# col2im_rows, same arguments and results), and the axis swaps around its matrix products.


@_jit
def im2col_rows(
    flat: Array, shape: tuple[int, int, int, int], kh: int, kw: int, out: Array
) -> None:
    """out (C, kh, kw, N, Ho·Wp)[c, i, j, n, k] = flat[(n·C + c)·Hp·Wp + i·Wp + j + k]."""
    n, c, hp, wp = shape
    plane, run = hp * wp, (hp - kh + 1) * wp
    for ch in range(c):
        for i in range(kh):
            for j in range(kw):
                for sample in range(n):
                    start = (sample * c + ch) * plane + i * wp + j
                    src, dst = flat[start : start + run], out[ch, i, j, sample]
                    for k in range(run):
                        dst[k] = src[k]


@_jit
def col2im_rows(cols: Array, shape: tuple[int, int, int, int], flat: Array) -> None:
    """The adjoint of :func:`im2col_rows` into ``flat`` laid out (C, N, Hp, Wp), zeroed first."""
    n, c, hp, wp = shape
    _, kh, kw, _, run = cols.shape
    plane = hp * wp
    flat[:] = 0
    for ch in range(c):
        for sample in range(n):
            base = (ch * n + sample) * plane
            for i in range(kh):
                for j in range(kw):
                    start = base + i * wp + j
                    dst, src = flat[start : start + run], cols[ch, i, j, sample]
                    for k in range(run):
                        dst[k] += src[k]


@_jit
def swap_crop(src: Array, top: int, left: int, bias: Array, use_bias: bool, out: Array) -> None:
    """out[a, b, y, x] = src[b, a, top + y, left + x] (+ bias[b]): the first two axes swapped
    and a window of the last two cropped, (N, C) ↔ (C, N), in one pass."""
    first, second, height, width = out.shape
    for b in range(second):
        add = bias[b] if use_bias else src.dtype.type(0)
        for a in range(first):
            for y in range(height):
                row, res = src[b, a, top + y, left:], out[a, b, y]
                if use_bias:
                    for x in range(width):
                        res[x] = row[x] + add
                else:
                    for x in range(width):
                        res[x] = row[x]


@_jit
def im2col(xp: Array, sh: int, sw: int, out: Array) -> None:
    """out (C, kh, kw, N, Ho, Wo)[c, i, j, n, p, q] = xp (N, C, Hp, Wp)[n, c, p·sh + i, q·sw + j]
    (plugnet_builtins._im2col.im2col)."""
    c, kh, kw, n, ho, wo = out.shape
    for ch in range(c):
        for i in range(kh):
            for j in range(kw):
                for sample in range(n):
                    plane, dst = xp[sample, ch], out[ch, i, j, sample]
                    for p in range(ho):
                        row, res = plane[p * sh + i], dst[p]
                        if sw == 1:  # a contiguous run: the loop vectorizes
                            window = row[j : j + wo]
                            for q in range(wo):
                                res[q] = window[q]
                        else:
                            for q in range(wo):
                                res[q] = row[q * sw + j]


@_jit
def col2im(cols: Array, sh: int, sw: int, out: Array) -> None:
    """The adjoint of :func:`im2col` into ``out`` (C, N, Hp, Wp), zeroed first."""
    c, kh, kw, n, ho, wo = cols.shape
    out[:] = 0
    for ch in range(c):
        for sample in range(n):
            plane = out[ch, sample]
            for i in range(kh):
                for j in range(kw):
                    src = cols[ch, i, j, sample]
                    for p in range(ho):
                        row, values = plane[p * sh + i], src[p]
                        if sw == 1:
                            window = row[j : j + wo]
                            for q in range(wo):
                                window[q] += values[q]
                        else:
                            for q in range(wo):
                                row[q * sw + j] += values[q]


# Pools whose windows tile the input exactly (stride = pool_size, no padding, H = Ho·kh and
# W = Wo·kw: the usual 2×2 pool of an even image), over C-contiguous (N, C, H, W) arrays. Each
# input element is in one window. The loops run along long or contiguous runs, their branches
# are selects, and the 2-wide windows get loops of their own, whose constant strides vectorize
# (a (64, 32, 32, 32) max pool: forward 10 → 1.1 ms, backward 2.1 → 0.6 ms against the loop
# for any width).

NO_WINNER = 255  # max_pool_tiles' mark of a window holding a NaN: its gradient goes nowhere


@_jit
def max_pool_tiles(
    x: Array, kh: int, kw: int, across: Array, pick: Array, y: Array, winner: Array
) -> None:
    """y[n, c, p, q] = the max of x's window at (p·kh, q·kw), NaN where the window holds one
    (as numpy.max); winner[n, c, p, q] (uint8) the offset i·kw + j of its first maximum in
    row-major order, or NO_WINNER for a NaN window (no element equals its max).

    Two passes: along the rows, across[m] = the max of the kw values x.flat[m·kw:(m + 1)·kw]
    and pick[m] the first j holding it; then down the columns, the max of kh values of across
    and the first i holding it, in rows of Wo values. Only a strictly greater value replaces
    the max, so the first one stays; a NaN replaces it, and stays, since nothing is greater."""
    flat = x.reshape(-1)
    count = across.size
    if kw == 2:
        for m in range(count):
            left, right = flat[2 * m], flat[2 * m + 1]
            take = (right > left) | (right != right)
            across[m] = right if take else left
            pick[m] = take
    else:
        for m in range(count):
            across[m] = flat[m * kw]
            pick[m] = 0
        for j in range(1, kw):
            for m in range(count):
                value, held = flat[m * kw + j], across[m]
                take = (value > held) | (value != value)
                across[m] = value if take else held
                pick[m] += (j - pick[m]) * take
    n, c, ho, wo = y.shape
    rows, picks = across.reshape(n * c * ho * kh, wo), pick.reshape(n * c * ho * kh, wo)
    out, at = y.reshape(n * c * ho, wo), winner.reshape(n * c * ho, wo)
    for r in range(n * c * ho):
        best, arg, top, first = out[r], at[r], rows[r * kh], picks[r * kh]
        for q in range(wo):
            best[q] = top[q]
            arg[q] = first[q]
        for i in range(1, kh):
            row, chosen = rows[r * kh + i], picks[r * kh + i]
            for q in range(wo):
                value, held = row[q], best[q]
                take = (value > held) | (value != value)
                best[q] = value if take else held
                arg[q] += (i * kw + chosen[q] - arg[q]) * take
        for q in range(wo):
            if best[q] != best[q]:
                arg[q] = NO_WINNER


@_jit
def max_pool_tiles_backward(grad: Array, winner: Array, kh: int, kw: int, dx: Array) -> None:
    """dx (N, C, Ho·kh, Wo·kw) = grad (N, C, Ho, Wo) · (winner == offset) at each window
    offset: the gradient at the winner, 0 elsewhere (and NaN · 0 is NaN, as in NumPy)."""
    n, c, ho, wo = grad.shape
    grads, winners = grad.reshape(n * c * ho, wo), winner.reshape(n * c * ho, wo)
    rows = dx.reshape(n * c * ho * kh, wo * kw)
    for r in range(n * c * ho):
        g, arg = grads[r], winners[r]
        for i in range(kh):
            row = rows[r * kh + i]
            if kw == 2:
                for q in range(wo):
                    row[2 * q] = g[q] * (arg[q] == 2 * i)
                    row[2 * q + 1] = g[q] * (arg[q] == 2 * i + 1)
            else:
                for j in range(kw):
                    offset = i * kw + j
                    for q in range(wo):
                        row[q * kw + j] = g[q] * (arg[q] == offset)


@_jit
def avg_pool_tiles(x: Array, kh: int, kw: int, scale: float, y: Array) -> None:
    """y[n, c, p, q] = scale · Σ of x's window at (p·kh, q·kw), summed in row-major order."""
    n, c, ho, wo = y.shape
    factor = y.dtype.type(scale)
    rows, out = x.reshape(n * c * ho * kh, wo * kw), y.reshape(n * c * ho, wo)
    for r in range(n * c * ho):
        total, first = out[r], rows[r * kh]
        for q in range(wo):
            total[q] = first[q * kw]
        for i in range(kh):
            row = rows[r * kh + i]
            for j in range(kw):
                if i > 0 or j > 0:
                    for q in range(wo):
                        total[q] += row[q * kw + j]
        for q in range(wo):
            total[q] *= factor


@_jit
def avg_pool_tiles_backward(grad: Array, kh: int, kw: int, scale: float, dx: Array) -> None:
    """dx (N, C, Ho·kh, Wo·kw) = scale · grad at every element of each window."""
    n, c, ho, wo = grad.shape
    factor = dx.dtype.type(scale)
    grads, rows = grad.reshape(n * c * ho, wo), dx.reshape(n * c * ho * kh, wo * kw)
    for r in range(n * c * ho):
        g = grads[r]
        for i in range(kh):
            row = rows[r * kh + i]
            for j in range(kw):
                for q in range(wo):
                    row[q * kw + j] = g[q] * factor
