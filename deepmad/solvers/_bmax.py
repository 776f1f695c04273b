"""Exact maximisation of the DP bound's bottleneck problems (:mod:`deepmad.solvers._dp`).

Per cell, the relaxation's terms in the bottleneck ``b`` are ``w ln b + q0 + q1 b + q2 b^2`` plus,
for SE blocks, ``n se(b) (beta b + gamma)`` with the SE width ``se(b)`` of
:func:`deepmad.solvers.terms.se_of`: linear on residue classes of ``b`` (so the function is
``w ln b + quadratic`` there, concave for ``w >= 0``, ``c2 <= 0``). :func:`best_b` returns the
exact maximum over the allowed grid and extra values, vectorised over cells.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from deepmad.solvers._bound import NEG
from deepmad.solvers.terms import se_of

__all__ = ["best_b"]

_SE_LINEAR_FROM = 64  # se(b) is linear on residue classes for b >= 64


def _local_max_root(w: np.ndarray, c1: np.ndarray, c2: np.ndarray) -> np.ndarray:
    """Local maximiser of ``w ln b + c1 b + c2 b^2`` on b > 0 (inf if increasing throughout).

    It is the smaller positive root of ``2 c2 b^2 + c1 b + w = 0``, written stably as
    ``2 w / (sqrt(c1^2 - 8 c2 w) - c1)`` (valid for every sign of c2).
    """
    with np.errstate(all="ignore"):
        disc = c1 * c1 - 8.0 * c2 * w
        r = 2.0 * w / (np.sqrt(np.maximum(disc, 0.0)) - c1)
    return np.where((disc >= 0) & (r >= 0) & np.isfinite(r), r, np.inf)


def _concave_root(w: np.ndarray, c1: np.ndarray, c2: np.ndarray) -> np.ndarray:
    """:func:`_local_max_root` when ``w >= 0`` and ``c2 <= 0`` (then the discriminant is >= 0)."""
    den = np.sqrt(c1 * c1 - c2 * (8.0 * w)) - c1
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, (2.0 * w) / den, np.inf)


def best_b(w, q0, q1, q2, lo, hi, cap, step, extras, se_terms):
    """Exact max over the allowed bottlenecks of ``w ln b + q0 + q1 b + q2 b^2 (+ SE terms)``.

    Candidates: the grid interval's ends and the grid points around the local maximiser
    (the function is unimodal up to a convex tail); with SE, per residue class of b modulo
    ``lcm(step, 64)`` on which ``se(b)`` is linear, plus every grid point below 64
    (:func:`_best_b_se`); then each extra value allowed by ``cap``.

    Returns:
        (best value, argmax b) arrays; NEG where no b is allowed.
    """
    if se_terms is not None:
        best, arg = _best_b_se(w, q0, q1, q2, lo, hi, step, se_terms)
    else:
        mlo, mhi = np.ceil(lo / step), np.floor(hi / step)
        r = np.minimum(_local_max_root(w, q1, q2) / step, mhi)
        if np.all(q2 <= 0):  # concave: the clipped grid neighbours of the maximiser suffice
            ba, bb = np.clip(np.floor(r), mlo, mhi) * step, np.clip(np.ceil(r), mlo, mhi) * step
            va = w * np.log(np.maximum(ba, 1.0)) + q0 + q1 * ba + q2 * ba * ba
            vb = w * np.log(np.maximum(bb, 1.0)) + q0 + q1 * bb + q2 * bb * bb
            best, arg = np.where(mlo <= mhi, np.maximum(va, vb), NEG), np.where(vb > va, bb, ba)
        else:  # and the interval's ends
            ms = np.stack(np.broadcast_arrays(mlo, mhi, np.floor(r), np.ceil(r)))
            bs = np.clip(ms, mlo, mhi) * step
            val = np.where(mlo <= mhi, w * np.log(np.maximum(bs, 1.0)) + q0 + q1 * bs + q2 * bs * bs, NEG)
            i = val.argmax(0)[None]
            best, arg = np.take_along_axis(val, i, 0)[0], np.take_along_axis(bs, i, 0)[0]
    for e in extras:  # a value, or an array of them (NaN: none)
        e = np.asarray(e, float)
        v = w * np.log(np.maximum(e, 1.0)) + q0 + (q1 + q2 * e) * e
        if se_terms is not None:
            n, beta, gamma = se_terms
            v = v + n * se_of(e) * (beta * e + gamma)
        better = (v > best) & (e <= cap)
        best, arg = np.where(better, v, best), np.where(better, e, arg)
    return best, arg


def _best_b_se(w, q0, q1, q2, lo, hi, step, se_terms):
    """Exact max over the grid of ``w ln b + q(b) + n se(b) (beta b + gamma)``, class by class.

    On each residue class ``se(b) = a2 b + a0`` (:func:`_se_classes`), so the function is
    ``w ln b + c0 + c1 b + c2 b^2`` there (:func:`_class_max`). A class is scored only on the cells
    whose interval meets it: none (skipped), all, or a gathered subset when fewer than half do
    (the ``b < 64`` class usually concerns a few narrow cells only).
    """
    n, beta, gamma = se_terms
    shape = np.broadcast(w, q0, q1, q2, lo, hi).shape
    best_v, best_b = np.full(shape, NEG), np.zeros(shape)
    lo_min, lo_max, hi_min, hi_max = float(np.min(lo)), float(np.max(lo)), float(np.min(hi)), float(np.max(hi))
    args = [np.broadcast_to(x, shape) for x in (w, q0, q1, q2, n * beta, n * gamma, lo, hi)]
    w_pos = bool(np.all(args[0] >= 0))
    for row in _se_classes(step):
        bmin, bmax = row[2], row[3]
        if max(lo_min, bmin) > min(hi_max, bmax):
            continue
        idx = None  # score every cell
        if not (lo_max <= bmax and hi_min >= bmin):  # some cells miss the class
            meets = (args[6] <= bmax) & (args[7] >= bmin)
            if 2 * np.count_nonzero(meets) <= meets.size:
                idx = np.nonzero(meets)
        if idx is None:
            v, bc = _class_max(row, w_pos, *args)
            better = v > best_v
            best_v, best_b = np.fmax(best_v, v), np.where(better, bc, best_b)
        else:
            v, bc = _class_max(row, w_pos, *(x[idx] for x in args))
            old = best_v[idx]
            best_v[idx], best_b[idx] = np.fmax(old, v), np.where(v > old, bc, best_b[idx])
    return best_v, best_b


def _class_max(row, w_pos: bool, w, q0, q1, q2, nbeta, ngamma, lo, hi):
    """Max of ``w ln b + q(b) + n se(b) (beta b + gamma)`` over the grid points of one residue
    class (a row of :func:`_se_classes`) in each cell's interval: (value, argmax b); NEG where
    the interval misses the class. Candidates: the two class points around the local maximiser,
    clipped to the interval (and the interval's ends where the quadratic is convex)."""
    per, r0, bmin, bmax, a2, a0 = row
    c2 = q2 + nbeta * a2 if a2 else q2
    c1 = q1 + (nbeta * a0 + ngamma * a2)
    klo = np.ceil((np.maximum(lo, bmin) - r0) / per)  # these depend on the widths only
    khi = np.floor((np.minimum(hi, bmax) - r0) / per)
    c0 = q0 + (ngamma * a0 + np.where(klo <= khi, 0.0, NEG))
    if w_pos and np.all(c2 <= 0):
        root = _concave_root(w, c1, c2)
        kf = np.floor(np.fmin(root * (1.0 / per) - r0 / per, khi))
        pts = (kf, kf + 1.0)
    else:
        root = np.minimum((_local_max_root(w, c1, c2) - r0) / per, khi)
        pts = (np.floor(root), np.ceil(root), klo, khi)
    best_v = best_b = None
    for kk in pts:
        bc = np.clip(kk, klo, khi) * per + r0
        with np.errstate(divide="ignore", invalid="ignore"):  # empty cells: NEG anyway
            v = w * np.log(bc) + c0 + (c1 + c2 * bc) * bc
        if best_v is None:
            best_v, best_b = v, bc
        else:
            better = v > best_v
            best_v, best_b = np.fmax(best_v, v), np.where(better, bc, best_b)
    return best_v, best_b


@functools.cache
def _se_classes(step: int) -> tuple[tuple[float, ...], ...]:
    """Rows (period, residue, b_min, b_max, a2, a0) on which se(b) = a2 b + a0.

    se(b) = max(1, round(b/4) // 8) * 8 is 8 for b < 64 and, for b >= 64 on the grid, linear on
    residue classes modulo lcm(step, 32) (lcm(step, 64) when 4 does not divide the step, so that
    half-even ties in round(b/4) fall the same way within a class).
    """
    base = 32 if step % 4 == 0 else 64
    period = step * base // math.gcd(step, base)
    rows = [(float(step), 0.0, float(step), float(_SE_LINEAR_FROM - 1), 0.0, 8.0)]
    for r0 in range(0, period, step):
        rows.append((float(period), float(r0), float(_SE_LINEAR_FROM), math.inf,
                     0.25, 8 * (round(r0 / 4) // 8) - r0 / 4.0))
    return tuple(rows)
