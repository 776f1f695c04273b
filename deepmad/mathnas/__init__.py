"""MathNAS: block-role tables, exact integer programs, block-role estimation (no torch).

Wang, Ke, Liang, Zhang, "MathNAS: If Blocks Have a Role in Mathematical Architecture Design",
NeurIPS 2023, arXiv 2311.04943; reference implementation ``wangqinsi1/MathNAS`` (Gurobi,
additive predictor only, precomputed tables). This package implements the paper's FLOPs-scaled
predictor next to the additive one, solves both exactly with open solvers (HiGHS MILP,
Dinkelbach / Charnes-Cooper, brute force, variable depth), estimates block roles for any space
and evaluator (Algorithm 1 and partial sampling), and, in :mod:`deepmad.mathnas.profile` (the
only module that imports torch), measures per-block latency on the user's device.

Example:
    >>> from deepmad.mathnas import Budget, MathNASProblem, load_table, solve
    >>> table = load_table("mbv3-gpu")
    >>> result = solve(MathNASProblem(table, (Budget("latency", upper=500.0),)))
    >>> result.choices
    (3, 4, 4, 4, 3)
"""

from deepmad.mathnas.brute import solve_brute
from deepmad.mathnas.catalog import TABLE_DEVICES, list_tables, load_table
from deepmad.mathnas.cnn_space import CnnSpace, load_cnn_space
from deepmad.mathnas.estimate import (
    DEFAULT_STRATEGY,
    STRATEGIES,
    Estimate,
    EstimateConfig,
    estimate_table,
)
from deepmad.mathnas.fractional import FRACTIONAL_METHODS, solve_fractional
from deepmad.mathnas.lookup import (
    LookupEvaluator,
    MissingArchitecture,
    parse_arch_text,
    read_metrics_csv,
)
from deepmad.mathnas.milp import solve_additive
from deepmad.mathnas.nb201 import (
    NB201_DATASETS,
    NB201_EDGES,
    NB201_OPS,
    arch_from_naslib_key,
    format_arch,
    nb201_space,
    parse_arch,
)
from deepmad.mathnas.predictors import PREDICTORS, predict, predict_accuracy
from deepmad.mathnas.problem import (
    Budget,
    ConstraintValue,
    Infeasibility,
    MathNASProblem,
    SolveResult,
    evaluate_arch,
)
from deepmad.mathnas.solve import SOLVERS, make_budgets, solve
from deepmad.mathnas.space import Arch, Space
from deepmad.mathnas.tables import (
    METRICS,
    BlockTable,
    MetricTable,
    load_table_json,
    save_table_json,
    table_from_dict,
    table_to_dict,
)
from deepmad.mathnas.validate import Validation, predict_space, rank_correlations, validate

__all__ = [
    "DEFAULT_STRATEGY",
    "FRACTIONAL_METHODS",
    "METRICS",
    "NB201_DATASETS",
    "NB201_EDGES",
    "NB201_OPS",
    "PREDICTORS",
    "SOLVERS",
    "STRATEGIES",
    "TABLE_DEVICES",
    "Arch",
    "BlockTable",
    "Budget",
    "CnnSpace",
    "ConstraintValue",
    "Estimate",
    "EstimateConfig",
    "Infeasibility",
    "LookupEvaluator",
    "MathNASProblem",
    "MetricTable",
    "MissingArchitecture",
    "SolveResult",
    "Space",
    "Validation",
    "arch_from_naslib_key",
    "estimate_table",
    "evaluate_arch",
    "format_arch",
    "list_tables",
    "load_cnn_space",
    "load_table",
    "load_table_json",
    "make_budgets",
    "nb201_space",
    "parse_arch",
    "parse_arch_text",
    "predict",
    "predict_accuracy",
    "predict_space",
    "rank_correlations",
    "read_metrics_csv",
    "save_table_json",
    "solve",
    "solve_additive",
    "solve_brute",
    "solve_fractional",
    "table_from_dict",
    "table_to_dict",
    "validate",
]
