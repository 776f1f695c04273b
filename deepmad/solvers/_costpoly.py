"""The stage costs as polynomials in the DP's cell variables (:mod:`deepmad.solvers._dp`,
:mod:`deepmad.solvers._depthleaf`).

Every cost of :mod:`deepmad.solvers.terms` is, for a fixed kernel and depth, a polynomial
``sum_p b^p (a0 + a1 c_in + a2 c + a3 c_in c)`` of degree 2 in the bottleneck; its coefficients
are read off :func:`deepmad.solvers.terms.stage_costs` at probe points (exact), so the bounds use
the same formulas as the evaluator. The stem and final conv use
:func:`deepmad.solvers.terms.conv_bn_costs` directly.
"""

from __future__ import annotations

import numpy as np

from deepmad.solvers import terms
from deepmad.solvers._bound import Context

__all__ = ["cost_coefficients", "dp_stage_costs", "dw_pool", "has_indicator", "proj_costs",
           "stem_costs", "final_costs", "monomials", "bilinear"]


def dp_stage_costs(ctx: Context, j: int, cp, c, b, depth, k, se0: bool):
    """Stage j's costs without the average pool of kinds whose pool depends on ``c_in == c``."""
    rng, geo = ctx.space.stages[j], ctx.geo
    return terms.stage_costs(rng.kind, rng.shortcut, cp, c, b, depth, k, rng.stride, geo.stage_in[j],
                             geo.stage_out[j], geo.stage_rf[j], 0 if se0 else None,
                             pool=rng.kind.projection != "none", lat=ctx.lat)


def dw_pool(ctx: Context, j: int, cp_hi):
    """Upper bound of the average-pool TinyNAS MACs that :func:`dp_stage_costs` leaves out (or 0)."""
    rng = ctx.space.stages[j]
    if rng.kind.projection == "none":
        return terms.pool_rule(rng.kind, rng.shortcut, cp_hi, cp_hi, rng.stride) * ctx.geo.stage_rf[j] ** 2
    return 0.0


_PROBES = np.array([[1.0, 2.0], [1.0, 3.0], [2.0, 3.0], [2.0, 5.0]])  # (c_in, c) with c_in != c
_PROBE_INV = np.linalg.inv(np.array([[1.0, a, b, a * b] for a, b in _PROBES]))


def cost_coefficients(ctx: Context, j: int, ds: np.ndarray, ks: np.ndarray, se: bool) -> np.ndarray:
    """Stage costs as ``sum_p b^p (a0 + a1 c_in + a2 c + a3 c_in c)`` (exact: they are polynomials).

    Returns an array (base quantities, 3 powers of b, 4 monomials, K, D), fitted on four probe
    points and three values of b; cached on ``ctx`` per (stage, depths, kernels).
    """
    key = (j, tuple(np.ravel(ds)), tuple(np.ravel(ks)), se)
    if key not in ctx.coef_cache:
        ctx.coef_cache[key] = _fit_cost_coefficients(ctx, j, ds, ks, se)
        ctx.coef_cache[key].flags.writeable = False
    return ctx.coef_cache[key]


def _fit_cost_coefficients(ctx: Context, j: int, ds: np.ndarray, ks: np.ndarray, se: bool) -> np.ndarray:
    b = np.array([0.0, 1.0, 2.0]).reshape(3, 1, 1, 1)
    kk, dd = ks.reshape(1, -1, 1, 1), ds.reshape(1, 1, -1, 1)
    vals = np.stack([np.broadcast_to(v, (3, kk.shape[1], dd.shape[2], 4)) for v in dp_stage_costs(
        ctx, j, _PROBES[:, 0], _PROBES[:, 1], b, dd, kk, se)])  # (4, 3, K, D, probes)
    c2 = (vals[:, 2] - 2 * vals[:, 1] + vals[:, 0]) / 2.0
    powers = np.stack([vals[:, 0], vals[:, 1] - vals[:, 0] - c2, c2], axis=1)  # (4, 3, K, D, probes)
    mono = powers @ _PROBE_INV.T  # (4, 3, K, D, 4 monomials)
    return np.moveaxis(mono, -1, 2)


def monomials(cp: np.ndarray, c: np.ndarray) -> np.ndarray:
    """(1, c_in, c, c_in c) on N cells: (4, N)."""
    return np.stack([np.ones_like(cp), cp, c, cp * c])


def bilinear(coef: np.ndarray, mono: np.ndarray) -> np.ndarray:
    """Evaluate (3, 4, K, D) monomial coefficients on N cells' monomials -> (3, K, D, N)."""
    return (np.moveaxis(coef, 1, -1).reshape(-1, 4) @ mono).reshape(coef.shape[0], *coef.shape[2:], mono.shape[1])


def has_indicator(ctx: Context, j: int) -> bool:
    """Whether stage j's first block projects its shortcut only when c_in != c."""
    rng = ctx.space.stages[j]
    if rng.shortcut == "torchvision":
        return rng.stride == 1
    return rng.kind.projection == "change"


def proj_costs(ctx: Context, j: int, c):
    """Base costs of the first block's 1x1 projection at c_in = c."""
    rng, geo = ctx.space.stages[j], ctx.geo
    return terms.projection_costs(rng.shortcut, c, c, rng.stride, geo.stage_in[j], geo.stage_out[j],
                                  geo.stage_rf[j], ctx.lat)


def stem_costs(ctx: Context, c0):
    sp = ctx.space
    return terms.conv_bn_costs(sp.in_channels, c0, sp.stem_kernel, sp.stem_stride, ctx.geo.stem_out, ctx.resolution,
                               ctx.lat, "stem", ctx.resolution)


def final_costs(ctx: Context, cp, cf):
    return terms.conv_bn_costs(cp, cf, 1, 1, ctx.geo.stage_out[-1], ctx.geo.final_rf, ctx.lat)
