"""Block-role estimation for any space and any evaluator ``arch -> metrics`` (no torch).

MathNAS (arXiv 2311.04943), Sec. 3.2 and App. A.4. The role of block b_{i,j} is its average
effect when node i switches from the reference block b_{i,r} to b_{i,j} (Eq. 3 / Eq. 7):

    b_{i,j} = mean over contexts k of [ M(N^k_(i,r)) - M(N^k_(i,j)) ],

a *context* being an assignment of the other nodes. Two strategies choose the contexts:

* ``single``: Algorithm 1. One context, the average-FLOPs network N^avg: evaluate N^avg with
  node i set to every option, for every node (m (n - 1) + 1 networks), plus the base net N~.
* ``sampled``: the partial-sampling estimate of Eq. 3 (Fig. 2: "a mere 5 % random sampling of
  networks is sufficient"): the same star of switches around K random networks, K set by the
  evaluation budget (default 5 % of the space), values averaged over the K contexts.

Both are fitted by one least-squares model per node, ``M(context g, option j) = mu_g + theta_j``
with theta_r = 0, which equals the average of Eq. 3 when every context holds every option and
still works when an evaluator only knows some networks (a partial benchmark table): then each
node uses the contexts in which at least two options were measured, and ``single`` takes those
closest to N^avg until every option is linked to the reference. A node whose measured pairs
never link some option falls back to an additive least-squares fit over all measured networks
(recorded in the table's provenance as ``joint_fit_nodes``). Accuracy values are stored as
drops b^A = -theta; latency and energy as delta = theta. F-bar (Eq. 6) is the mean FLOPs of
the networks the values were averaged over.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from deepmad.errors import DeepmadError
from deepmad.mathnas.space import Arch, Space
from deepmad.mathnas.tables import METRICS, BlockTable, MetricTable

__all__ = ["DEFAULT_STRATEGY", "STRATEGIES", "Estimate", "EstimateConfig", "estimate_table"]

STRATEGIES: tuple[str, ...] = ("single", "sampled")
DEFAULT_STRATEGY = "sampled"
Evaluator = Callable[[Arch], Mapping[str, float]]
Group = dict[int, Arch]  # one context of one node: option -> the network evaluated


@dataclass(frozen=True)
class EstimateConfig:
    """How block roles are estimated."""

    strategy: str = DEFAULT_STRATEGY  # "single" (Algorithm 1) or "sampled" (Eq. 3, partial sampling)
    max_evaluations: int | None = None  # distinct networks evaluated at most; None -> strategy default
    seed: int = 0  # random contexts of "sampled"
    reference: str | tuple[int, ...] = "largest"  # r_i: "largest" FLOPs, "first", or explicit indices
    sample_fraction: float = 0.05  # "sampled" default budget, as a share of the space

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise DeepmadError(f"strategy {self.strategy!r} is unknown; allowed: {', '.join(STRATEGIES)}")
        if self.max_evaluations is not None and self.max_evaluations < 2:
            raise DeepmadError(f"max_evaluations={self.max_evaluations} is too small; expected >= 2")
        if not 0 < self.sample_fraction <= 1:
            raise DeepmadError(f"sample_fraction={self.sample_fraction} is invalid; expected 0 < f <= 1")


@dataclass(frozen=True)
class Estimate:
    """An estimated table and what it cost."""

    table: BlockTable
    evaluations: int  # distinct networks evaluated
    contexts_per_node: tuple[int, ...]  # contexts averaged over at each node
    strategy: str
    mode: str  # "dense" (any network can be evaluated) or "sparse" (lookup of a partial table)


class _Counted:
    """Caches the evaluator and counts distinct evaluations."""

    def __init__(self, evaluator: Evaluator, metrics: Sequence[str]) -> None:
        self.evaluator, self.metrics = evaluator, metrics
        self.cache: dict[Arch, dict[str, float]] = {}

    def __call__(self, arch: Arch) -> dict[str, float]:
        if arch not in self.cache:
            out = self.evaluator(arch)
            missing = [m for m in self.metrics if m not in out]
            if missing:
                raise DeepmadError(f"evaluator returned no {missing} for {list(arch)}; it returned {sorted(out)}")
            self.cache[arch] = {m: float(out[m]) for m in self.metrics}
        return self.cache[arch]


def _reference(space: Space, reference: str | tuple[int, ...]) -> Arch:
    if isinstance(reference, str):
        if reference == "first" or (reference == "largest" and space.flops is None):
            return (0,) * len(space.nodes)
        if reference == "largest":
            return tuple(max(range(len(row)), key=lambda j, r=row: (r[j], -j)) for row in space.flops)  # type: ignore[union-attr]
        raise DeepmadError(f"reference {reference!r} is unknown; allowed: largest, first, or option indices")
    return space.check_arch(reference)


def _switch(arch: Arch, node: int, option: int) -> Arch:
    return arch[:node] + (option,) + arch[node + 1:]


def _random_centres(space: Space, count: int, rng: np.random.Generator) -> list[Arch]:
    if count >= space.size:
        return [tuple(int(v) for v in a) for a in space.all_archs()]
    seen: dict[Arch, None] = {}
    while len(seen) < count:
        for a in space.random_archs(rng, 2 * (count - len(seen))):
            if len(seen) < count:
                seen.setdefault(a)
    return list(seen)


def _dense_groups(space: Space, config: EstimateConfig) -> list[list[Group]]:
    """Stars of switches around N^avg (single) or K random networks (sampled)."""
    star = 1 + sum(n - 1 for n in space.sizes)
    if config.strategy == "single":
        if config.max_evaluations is not None and config.max_evaluations < star + 1:
            raise DeepmadError(f"strategy 'single' needs {star + 1} evaluations; max_evaluations={config.max_evaluations}")
        centres = [space.average_flops_network()]
    else:
        budget = config.max_evaluations or max(star + 1, math.ceil(config.sample_fraction * space.size))
        if budget < star + 1:
            raise DeepmadError(f"strategy 'sampled' needs at least {star + 1} evaluations (one context per node); max_evaluations={budget}")
        centres = _random_centres(space, (budget - 1) // star, np.random.default_rng(config.seed))
    return [[{j: _switch(c, i, j) for j in range(n)} for c in centres] for i, n in enumerate(space.sizes)]


def _connected(groups: list[Group], n: int, ref: int) -> bool:
    parent = list(range(n))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for g in groups:
        opts = list(g)
        for o in opts[1:]:
            parent[find(o)] = find(opts[0])
    return all(find(j) == find(ref) for j in range(n))


def _node_candidates(known: Collection[Arch], i: int) -> list[tuple[Arch, Group]]:
    """Contexts of node i (the other nodes' options) in which >= 2 options were measured."""
    by_context: dict[Arch, Group] = {}
    for a in sorted(known):
        by_context.setdefault(a[:i] + a[i + 1:], {})[a[i]] = a
    return [(ctx, g) for ctx, g in by_context.items() if len(g) >= 2]


def _near_average(space: Space, i: int, avg: Arch) -> Callable[[tuple[Arch, Group]], tuple[int, float]]:
    """Sort key: Hamming distance of a context to N^avg's, then FLOPs distance."""
    avg_ctx = avg[:i] + avg[i + 1:]

    def key(item: tuple[Arch, Group]) -> tuple[int, float]:
        ctx = item[0]
        gap = 0.0 if space.flops is None else abs(space.network_flops(ctx[:i] + (avg[i],) + ctx[i:]) - space.network_flops(avg))
        return sum(x != y for x, y in zip(ctx, avg_ctx)), gap

    return key


def _sparse_groups(space: Space, known: Collection[Arch], config: EstimateConfig, ref: Arch) -> list[list[Group] | None]:
    """Per node, measured contexts near N^avg (single) or at random (sampled), see module doc.

    A node whose measured pairs never link some option to the reference gets None.
    """
    rng = np.random.default_rng(config.seed)
    avg = space.average_flops_network()
    share = None if config.max_evaluations is None else config.max_evaluations / len(space.nodes)
    out = []
    for i, n in enumerate(space.sizes):
        candidates = _node_candidates(known, i)
        if config.strategy == "single":
            candidates.sort(key=_near_average(space, i, avg))
        else:
            candidates = [candidates[k] for k in rng.permutation(len(candidates))]
        chosen: list[Group] = []
        for _, g in candidates:
            if _connected(chosen, n, ref[i]) and (config.strategy == "single" or (share is not None and sum(map(len, chosen)) >= share)):
                break
            chosen.append(g)
        out.append(chosen if _connected(chosen, n, ref[i]) else None)
    return out


def _fit_joint(archs: Sequence[Arch], values: Mapping[Arch, Mapping[str, float]], space: Space, ref: Arch,
               metric: str) -> list[np.ndarray]:
    """Additive least squares over whole networks, ``M(N) = c + sum_i theta_{i,J_i}`` (theta_{i,r_i} = 0).

    The fallback for nodes that no measured pair links: with every network of the space this
    equals the average of Eq. 3 over all contexts (main effects of a full factorial design).
    """
    cols = [(i, j) for i, n in enumerate(space.sizes) for j in range(n) if j != ref[i]]
    index = {c: k + 1 for k, c in enumerate(cols)}
    x = np.zeros((len(archs), len(cols) + 1))
    x[:, 0] = 1.0
    for row, a in enumerate(archs):
        for i, j in enumerate(a):
            if j != ref[i]:
                x[row, index[(i, j)]] = 1.0
    seen = {(i, j) for a in archs for i, j in enumerate(a)}
    unseen = [(i, j) for i, n in enumerate(space.sizes) for j in range(n) if (i, j) not in seen]
    if unseen:
        i, j = unseen[0]
        raise DeepmadError(f"option {space.options[i][j]!r} of node {space.nodes[i]!r} never appears in the measured architectures")
    sol, _, rank, _ = np.linalg.lstsq(x, np.array([values[a][metric] for a in archs]), rcond=None)
    if rank < x.shape[1]:
        raise DeepmadError(
            f"the {len(archs)} measured architectures do not determine every block value (rank {rank} < {x.shape[1]}); "
            "measure more networks, ideally pairs that differ at one node"
        )
    thetas = [np.zeros(n) for n in space.sizes]
    for (i, j), k in index.items():
        thetas[i][j] = sol[k]
    return thetas


def _fit_node(groups: list[Group], values: Mapping[Arch, Mapping[str, float]], n: int, ref: int,
              metric: str) -> np.ndarray:
    """Least squares ``M(g, j) = mu_g + theta_j`` (theta_ref = 0); returns theta (n,)."""
    cols = [j for j in range(n) if j != ref]
    rows, y = [], []
    for k, g in enumerate(groups):
        for j, arch in g.items():
            row = np.zeros(len(cols) + len(groups))
            if j != ref:
                row[cols.index(j)] = 1.0
            row[len(cols) + k] = 1.0
            rows.append(row)
            y.append(values[arch][metric])
    sol = np.linalg.lstsq(np.array(rows), np.array(y), rcond=None)[0]
    theta = np.zeros(n)
    theta[cols] = sol[:len(cols)]
    return theta


def estimate_table(space: Space, evaluator: Evaluator, *, metrics: Sequence[str] = ("accuracy",),
                   config: EstimateConfig | None = None, name: str | None = None, device: str = "",
                   units: Mapping[str, str] | None = None) -> Estimate:
    """Estimate a :class:`BlockTable` for ``space`` from an evaluator.

    Args:
        space: Nodes x options, with per-block FLOPs when known (Algorithm 1 uses them).
        evaluator: ``arch -> {metric: value}``. An evaluator with an ``architectures``
            attribute smaller than the space (a partial lookup table) is used in sparse mode.
        metrics: Table metrics to estimate, from ``accuracy``, ``latency``, ``energy``, ``flops``.
        config: Strategy, evaluation budget, seed and reference options.
        name: Table name (default: the space's name).
        device: Device recorded with latency/energy.
        units: Optional unit per metric.

    Returns:
        The :class:`Estimate`, holding the table and the number of distinct evaluations.
    """
    config = config or EstimateConfig()
    bad = [m for m in metrics if m not in METRICS]
    if bad or not metrics:
        raise DeepmadError(f"metrics {list(metrics)} are invalid; allowed: {', '.join(METRICS)}")
    ref = _reference(space, config.reference)
    counted = _Counted(evaluator, list(metrics))
    known = getattr(evaluator, "architectures", None)
    sparse = known is not None and len(known) < space.size
    groups = _sparse_groups(space, known, config, ref) if sparse else _dense_groups(space, config)
    fallback = [i for i, g in enumerate(groups) if g is None]
    used = sorted({a for node in groups if node for g in node for a in g.values()} | (set(known) if fallback else set()))
    use_intercept = sparse and ref not in known  # type: ignore[operator]
    for a in used if use_intercept else [*used, ref]:
        counted(a)
    thetas = {}
    for m in metrics:
        joint = _fit_joint(used, counted.cache, space, ref, m) if fallback else None
        thetas[m] = [joint[i] if g is None else _fit_node(g, counted.cache, n, ref[i], m)  # type: ignore[index]
                     for i, (g, n) in enumerate(zip(groups, space.sizes))]
    contexts = tuple(0 if g is None else len(g) for g in groups)
    mode = "sparse" if sparse else "dense"
    record = {"space": space.name, "strategy": config.strategy, "mode": mode, "seed": config.seed,
              "evaluations": len(counted.cache), "max_evaluations": config.max_evaluations,
              "contexts_per_node": list(contexts), "reference_options": list(ref),
              "joint_fit_nodes": [space.nodes[i] for i in fallback],
              "base_from": "intercept" if use_intercept else "reference network"}
    table = _assemble(space, counted.cache, thetas, ref, used, use_intercept,
                      name=name or space.name, device=device, units=units or {}, record=record)
    return Estimate(table, len(counted.cache), contexts, config.strategy, mode)


def _assemble(space: Space, values: Mapping[Arch, Mapping[str, float]], thetas: Mapping[str, list[np.ndarray]],
              ref: Arch, used: list[Arch], use_intercept: bool, *, name: str, device: str,
              units: Mapping[str, str], record: dict[str, object]) -> BlockTable:
    """Base values (reference network, or least-squares intercept), deltas, FLOPs and F-bar."""
    metrics: dict[str, MetricTable] = {}
    for m, theta in thetas.items():
        delta = tuple(tuple(float(v) for v in t) for t in theta)
        if use_intercept:
            base = float(np.mean([values[a][m] - sum(delta[i][j] for i, j in enumerate(a)) for a in used]))
        else:
            base = values[ref][m]
        metrics[m] = MetricTable(base, delta, units.get(m, ""))
    if "flops" not in metrics and space.flops is not None:
        metrics["flops"] = MetricTable(space.flops_base, space.flops, units.get("flops", ""))
    f_bar = None if space.flops is None else float(np.mean([space.network_flops(a) for a in used]))
    return BlockTable(name=name, nodes=space.nodes, options=space.options, metrics=metrics, device=device,
                      flops_reference=f_bar, provenance={"estimation": record})
