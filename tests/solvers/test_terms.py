"""Each term of deepmad.solvers.terms against the independent oracles, unit by unit.

``count_network`` gives per-stage costs (stem, every stage, final conv, head) in both conventions
and ``block_terms`` / ``network_units`` (what ``score_spec`` sums) the entropy terms and layer widths of every unit; each
term of the terms module must equal its counterpart on random designs of every designable kind,
on numbers and on numpy arrays alike.
"""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from deepmad.cost import count_network
from deepmad.hardware.calibration import Calibration
from deepmad.hardware.features import FEATURE_NAMES, LatencyTerms
from deepmad.scores.entropy import ScoreConfig, block_terms, network_units
from deepmad.solvers import terms
from deepmad.solvers.fasteval import geometry
from deepmad.solvers.space import design_to_spec
from deepmad.spec.blocks import BLOCK_KINDS
from tests.solvers.test_fasteval import _random_case

KINDS = tuple(k for k, v in BLOCK_KINDS.items() if v.designable)


def random_calibration(seed: int, batch: int = 1) -> Calibration:
    """Random non-negative coefficients on every feature (scaled so no feature dominates)."""
    rng = np.random.default_rng(seed)
    coef = {n: float(rng.uniform(0.1, 1.0)) * 10.0 ** -(3 if "." not in n else 6) for n in FEATURE_NAMES}
    return Calibration({"batch": batch, "mode": "inference"}, coef)


def _cases(seed: int, n: int = 30):
    rng = random.Random(seed)
    for _ in range(n):
        space, d = _random_case(rng)
        yield space, d, design_to_spec(space, d)


def test_every_designable_kind_is_covered() -> None:
    rng = random.Random(0)
    seen = {_random_case(rng)[0].stages[0].block for _ in range(200)}
    assert seen == set(KINDS)


@pytest.mark.parametrize("seed", range(4))
def test_cost_terms_equal_count_network_per_stage(seed: int) -> None:
    """Costs against count_network, and latency against Calibration.predict's stages (the
    latency formula lives once: features.conv_terms, priced through terms.LatencyTerms)."""
    cal = random_calibration(seed, batch=1 + seed % 2)
    lat = LatencyTerms.of(cal)
    for space, d, spec in _cases(seed):
        geo = geometry(space, d.resolution)
        torch_r, tn = count_network(spec, "torch"), count_network(spec, "tinynas")
        by_t, by_n = {s.name: s for s in torch_r.stages}, {s.name: s for s in tn.stages}
        pred = cal.predict(spec)
        ms = {s.name: s.ms for s in pred.stages}

        def check(name: str, got: tuple, layers: int, by_t=by_t, by_n=by_n, spec=spec, ms=ms) -> None:
            p, m, f, a, t_ms = got
            t, n = by_t[name], by_n[name]
            assert (round(p), round(m), a, layers) == (t.params, t.macs, t.activations, t.layers), (name, spec)
            assert round(f) == n.macs, (name, spec)
            assert t_ms == pytest.approx(ms[name], rel=1e-12), (name, spec)

        check("stem", terms.conv_bn_costs(space.in_channels, d.stem, space.stem_kernel, space.stem_stride,
                                          geo.stem_out, geo.resolution, lat, "stem", geo.resolution), 1)
        cin = d.stem
        for j, (rng, st) in enumerate(zip(space.stages, d.stages)):
            got = terms.stage_costs(rng.kind, rng.shortcut, cin, st.width, st.bottleneck, st.depth, st.kernel,
                                    rng.stride, geo.stage_in[j], geo.stage_out[j], geo.stage_rf[j], lat=lat)
            check(f"stage{j + 1}", got, rng.kind.layers_per_block * st.depth)
            cin = st.width
        if d.final is not None:
            check("final_conv", terms.conv_bn_costs(cin, d.final, 1, 1, geo.stage_out[-1], geo.final_rf, lat), 1)
            cin = d.final
        head_ms = terms.head_latency(lat, cin, space.num_classes, geo.stage_out[-1])
        assert head_ms == pytest.approx(ms["head"] + pred.overhead_ms, rel=1e-12)
        if space.num_classes:
            hp, hm, ha = terms.head_costs(cin, space.num_classes)
            head = by_t["head"]
            assert (hp, hm, ha) == (head.params, head.macs, head.activations)


@pytest.mark.parametrize("seed", range(3))
def test_quantity_rows_equal_count_network_totals(seed: int) -> None:
    cal = random_calibration(10 + seed)
    lat = LatencyTerms.of(cal)
    for space, d, spec in _cases(seed):
        geo = geometry(space, d.resolution)
        body = np.array(terms.conv_bn_costs(space.in_channels, d.stem, space.stem_kernel, space.stem_stride,
                                            geo.stem_out, geo.resolution, lat, "stem", geo.resolution) + (1,), float)
        cin = d.stem
        for j, (rng, st) in enumerate(zip(space.stages, d.stages)):
            body += np.array(terms.stage_costs(rng.kind, rng.shortcut, cin, st.width, st.bottleneck, st.depth,
                                               st.kernel, rng.stride, geo.stage_in[j], geo.stage_out[j],
                                               geo.stage_rf[j], lat=lat) + (rng.kind.layers_per_block * st.depth,))
            cin = st.width
        if d.final is not None:
            body += np.array(terms.conv_bn_costs(cin, d.final, 1, 1, geo.stage_out[-1], geo.final_rf, lat) + (1,))
            cin = d.final
        if space.num_classes:
            w, hp, hm, hc = terms.quantity_row("latency_ms", "torch", space.num_classes, lat, geo.stage_out[-1])
            got = float(w @ body) + (hp + hm) * cin * space.num_classes + hc
            assert got == pytest.approx(cal.predict(spec).total_ms, rel=1e-12), spec
        for conv in ("torch", "tinynas"):
            rep = count_network(spec, conv)
            want = {"params": rep.params, "macs": rep.macs, "flops": rep.flops, "activations": rep.activations,
                    "layers": rep.layers}
            for q, v in want.items():
                w, hp, hm, hc = terms.quantity_row(q, conv, space.num_classes)
                got = float(w @ body) + (hp + hm) * cin * space.num_classes + hc
                got = 2 * round(got / 2) if q == "flops" else round(got)  # flops = 2 x rounded MACs
                assert got == v, (q, conv, spec)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("mode", ["paper", "reference"])
def test_entropy_terms_equal_score_spec_per_unit(seed: int, mode: str) -> None:
    for space, d, spec in _cases(100 + seed):
        cfg = ScoreConfig(mode)
        f, a1, a2 = cfg.factor, cfg.alpha1, cfg.alpha2
        units = network_units(spec)
        h_ref = block_terms(units, cfg)
        lw_ref = [sum(math.log(c * k * k / g) for c, k, g in u.layers) for u in units]
        parts = [terms.stem_parts(space.in_channels, space.stem_kernel, math.log)]
        cin, spans = d.stem, [1]
        for rng, st in zip(space.stages, d.stages):
            parts.append(terms.stage_parts(rng.kind, st.depth, math.log(cin), math.log(st.width),
                                           math.log(st.bottleneck), math.log(st.kernel)))
            spans.append(st.depth)
            cin = st.width
        if d.final is not None:
            parts.append(terms.final_parts(math.log(cin)))
            spans.append(1)
        start = 0
        for (x, y), n in zip(parts, spans):
            assert terms.unit_entropy(x, y, f, a1, a2) == pytest.approx(sum(h_ref[start:start + n]), rel=1e-12, abs=1e-12)
            assert terms.log_width(x, y) == pytest.approx(sum(lw_ref[start:start + n]), rel=1e-12, abs=1e-12)
            start += n
        assert start == len(units)


def test_terms_are_generic_over_numpy_arrays() -> None:
    """The DP evaluates the same functions on arrays: element-wise equal to the scalar results."""
    rng = random.Random(7)
    for kind_name in KINDS:
        kind = BLOCK_KINDS[kind_name]
        vals = [(rng.randint(8, 300), rng.randint(8, 300), rng.randint(8, 600), rng.randint(1, 6), rng.choice((3, 5)))
                for _ in range(20)]
        cin, c, b, depth, k = (np.array(v, float) for v in zip(*vals))
        lat = LatencyTerms.of(random_calibration(3))
        for shortcut in ("tinynas", "torchvision"):
            arr = terms.stage_costs(kind, shortcut, cin, c, b, depth, k, 2, 56, 28, 56.0, pool=False, lat=lat)
            for i, (ci, cc, bi, di, ki) in enumerate(vals):
                one = terms.stage_costs(kind, shortcut, ci, cc, bi, di, ki, 2, 56, 28, 56.0, pool=False, lat=lat)
                assert [float(np.broadcast_to(a, cin.shape)[i]) for a in arr] == pytest.approx(one, rel=1e-12)
        xs, ys = terms.stage_parts(kind, depth, np.log(cin), np.log(c), np.log(b), np.log(k))
        for i, (ci, cc, bi, di, ki) in enumerate(vals):
            x, y = terms.stage_parts(kind, di, math.log(ci), math.log(cc), math.log(bi), math.log(ki))
            assert (xs[i], ys[i]) == pytest.approx((x, y), rel=1e-12)


@pytest.mark.parametrize("kind_name", KINDS)
def test_se_cost_terms_match_block_costs(kind_name: str) -> None:
    kind = BLOCK_KINDS[kind_name]
    lat = LatencyTerms.of(random_calibration(4))
    for b in (8.0, 64.0, 200.0):
        for se in (8.0, 48.0):
            full = terms.block_costs(kind, "tinynas", 32.0, 32.0, b, 3, 1, 7, 7, False, se=se, pool=False, lat=lat)
            none = terms.block_costs(kind, "tinynas", 32.0, 32.0, b, 3, 1, 7, 7, False, se=0.0, pool=False, lat=lat)
            want = [se * (beta * b + gamma) for beta, gamma in terms.se_cost_terms(kind, lat)]
            assert [x - y for x, y in zip(full, none)] == pytest.approx(want, abs=1e-9)
    assert any(beta or gamma for beta, gamma in terms.se_cost_terms(kind)) == kind.se
