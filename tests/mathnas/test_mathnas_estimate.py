"""Block-role estimation: Algorithm 1 and partial sampling, dense and sparse evaluators."""

from __future__ import annotations

import numpy as np
import pytest

from deepmad.errors import DeepmadError
from deepmad.mathnas import (
    EstimateConfig,
    LookupEvaluator,
    MissingArchitecture,
    Space,
    estimate_table,
    load_table,
    nb201_space,
    predict_accuracy,
    rank_correlations,
)
from deepmad.mathnas.predictors import metric_values

from ._helpers import random_table, subset_records


class AdditiveTruth:
    """An exactly additive ground truth (accuracy and latency) that counts its calls."""

    def __init__(self, rng: np.random.Generator, sizes: tuple[int, ...]) -> None:
        self.table = random_table(rng, sizes, energy=False)
        self.calls = 0

    def __call__(self, arch):
        self.calls += 1
        arr = np.asarray([arch])
        return {m: float(metric_values(self.table.metric(m), arr)[0]) for m in ("accuracy", "latency")}


def _space(table) -> Space:
    return table.space


@pytest.mark.parametrize("strategy", ["single", "sampled"])
@pytest.mark.parametrize("reference", ["largest", "first"])
def test_additive_ground_truth_is_recovered_exactly(strategy: str, reference: str) -> None:
    truth = AdditiveTruth(np.random.default_rng(11), (3, 5, 2, 4))
    space = _space(truth.table)
    est = estimate_table(space, truth, metrics=("accuracy", "latency"),
                         config=EstimateConfig(strategy, max_evaluations=60, reference=reference))
    archs = space.all_archs()
    for metric in ("accuracy", "latency"):
        got = metric_values(est.table.metric(metric), archs)
        want = metric_values(truth.table.metric(metric), archs)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
    star = 1 + sum(n - 1 for n in space.sizes)
    assert est.evaluations == truth.calls  # every evaluation is counted once
    if strategy == "single":
        assert est.evaluations <= star + 1 and est.contexts_per_node == (1, 1, 1, 1)
    else:
        assert est.evaluations <= 60 and min(est.contexts_per_node) == (60 - 1) // star


def test_algorithm1_uses_the_average_flops_network() -> None:
    table = load_table("nb201")
    space = table.space
    avg = space.average_flops_network()
    seen = []

    def evaluator(arch):
        seen.append(arch)
        return {"accuracy": float(predict_accuracy(table, [arch], "flops")[0])}

    est = estimate_table(space, evaluator, config=EstimateConfig("single"))
    assert est.evaluations == 1 + 6 * 4 + 1  # the star around N^avg plus the base net N~
    assert all(sum(a != b for a, b in zip(arch, avg)) <= 1 for arch in seen[:-1] if arch != (3,) * 6)
    assert est.table.provenance["estimation"]["reference_options"] == [3] * 6  # conv3x3, the largest FLOPs
    assert est.table.metric("accuracy").base == pytest.approx(40.78)


def test_sampled_respects_budget_and_seed() -> None:
    truth = AdditiveTruth(np.random.default_rng(5), (4, 4, 4))
    space = _space(truth.table)
    a = estimate_table(space, truth, config=EstimateConfig("sampled", max_evaluations=35, seed=1))
    b = estimate_table(space, truth, config=EstimateConfig("sampled", max_evaluations=35, seed=1))
    assert a.evaluations <= 35 and a.table.metric("accuracy").delta == b.table.metric("accuracy").delta
    default = estimate_table(nb201_space(), lambda arch: {"accuracy": float(sum(arch))})
    assert default.strategy == "sampled" and default.evaluations <= round(0.05 * 15625)
    with pytest.raises(DeepmadError, match="needs at least 11 evaluations"):
        estimate_table(space, truth, config=EstimateConfig("sampled", max_evaluations=5))
    with pytest.raises(DeepmadError, match="needs 11 evaluations"):
        estimate_table(space, truth, config=EstimateConfig("single", max_evaluations=5))


def test_nonadditive_truth_is_ranked_well_by_sampling() -> None:
    """The shipped NB201 table's FLOPs-scaled prediction as a (non-additive) ground truth."""
    table = load_table("nb201")
    space = nb201_space("ImageNet16-120")
    archs = space.all_archs()
    truth = predict_accuracy(table, archs, "flops")
    lookup = dict(zip(map(tuple, archs.tolist()), truth))
    for strategy, floor in (("single", 0.85), ("sampled", 0.9)):
        est = estimate_table(space, lambda a: {"accuracy": lookup[a]}, config=EstimateConfig(strategy))
        for predictor in ("additive", "flops"):
            rho, _ = rank_correlations(predict_accuracy(est.table, archs, predictor), truth)
            assert rho > floor, (strategy, predictor, rho)


@pytest.mark.parametrize("strategy, floor", [("single", 0.5), ("sampled", 0.7)])
def test_estimation_on_the_nb201_subset(strategy: str, floor: float) -> None:
    records = subset_records("ImageNet16-120")
    space = nb201_space("ImageNet16-120")
    evaluator = LookupEvaluator({a: {"accuracy": r["accuracy"]} for a, r in records.items()}, space)
    est = estimate_table(space, evaluator, config=EstimateConfig(strategy))
    assert est.mode == "sparse" and est.evaluations == len(evaluator.served)
    truth = [r["accuracy"] for r in records.values()]
    rho, tau = rank_correlations(predict_accuracy(est.table, list(records), "additive"), truth)
    assert rho > floor and tau > 0
    params_rho, _ = rank_correlations([r["params"] for r in records.values()], truth)
    if strategy == "sampled":
        assert rho > params_rho  # block roles beat the #params baseline


def test_estimation_errors() -> None:
    truth = AdditiveTruth(np.random.default_rng(0), (2, 2))
    space = _space(truth.table)
    with pytest.raises(DeepmadError, match="returned no"):
        estimate_table(space, truth, metrics=("energy",))
    with pytest.raises(DeepmadError, match="allowed: single, sampled"):
        EstimateConfig("greedy")
    partial = LookupEvaluator({(0, 0): {"accuracy": 1.0}, (1, 1): {"accuracy": 2.0}}, space)
    with pytest.raises(DeepmadError, match="do not determine"):
        estimate_table(space, partial)
    with pytest.raises(MissingArchitecture, match="not in the lookup table"):
        partial((1, 0))
    unseen = LookupEvaluator({(0, 0): {"accuracy": 1.0}, (0, 1): {"accuracy": 2.0}}, space)
    with pytest.raises(DeepmadError, match="never appears"):
        estimate_table(space, unseen)


def test_sparse_nodes_without_pairs_use_the_joint_fit() -> None:
    truth = AdditiveTruth(np.random.default_rng(4), (2, 2, 2))
    space = _space(truth.table)
    archs = [(0, 0, 0), (1, 1, 0), (0, 1, 1), (1, 0, 1)]  # no two differ only at node 0
    lookup = LookupEvaluator({a: truth(a) for a in archs}, space)
    est = estimate_table(space, lookup, metrics=("accuracy", "latency"))
    assert est.table.provenance["estimation"]["joint_fit_nodes"] == ["n0", "n1", "n2"]
    assert est.contexts_per_node == (0, 0, 0) and est.evaluations == 4
    all_archs = space.all_archs()
    for m in ("accuracy", "latency"):
        np.testing.assert_allclose(metric_values(est.table.metric(m), all_archs),
                                   metric_values(truth.table.metric(m), all_archs), atol=1e-9)
