"""Property test: malformed specs, budgets and flag values never give a traceback, always exit 2.

Runs the CLI in-process (``deepmad.cli.main.main``). Every generated input is invalid, so each
command stops at argument parsing or spec loading and no solve or training starts.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from deepmad.cli.main import main
from deepmad.spec import get_preset

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
BASE_SPEC = get_preset("resnet18").to_dict()


def _run(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(argv)
    return code, err.getvalue()


def _assert_refused(argv: list[str]) -> None:
    code, err = _run(argv)
    assert code == 2, (argv, code, err)
    assert "Traceback" not in err and err.count("\n") == 1, (argv, err)


# values that are wrong for every integer field of a spec (sizes, depths, strides, kernels)
bad_ints = st.one_of(
    st.integers(max_value=-1), st.floats(allow_nan=True).filter(lambda x: not float(x).is_integer()),
    st.text(max_size=5), st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
SPEC_FIELDS = [("resolution",), ("in_channels",), ("stem", "out_channels"), ("stem", "kernel_size"),
               ("head", "num_classes")] + [("stages", i, k) for i in range(4) for k in
                                           ("out_channels", "bottleneck_channels", "depth", "stride", "kernel_size")]


@FAST
@given(field=st.sampled_from(SPEC_FIELDS), value=bad_ints)
def test_malformed_spec_field(field: tuple, value: object) -> None:
    data = json.loads(json.dumps(BASE_SPEC))
    target = data
    for key in field[:-1]:
        target = target[key]
    target[field[-1]] = value
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "spec.json"
        path.write_text(json.dumps(data))
        _assert_refused(["cost", str(path)])


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                           max_leaves=8)


@FAST
@given(doc=json_values, suffix=st.sampled_from([".json", ".txt"]))
def test_random_documents_as_specs(doc: object, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"spec{suffix}"
        path.write_text(json.dumps(doc) if suffix == ".json" else repr(doc))
        _assert_refused(["show", str(path)])


@FAST
@given(data=st.binary(max_size=200), suffix=st.sampled_from([".json", ".txt"]))
def test_random_bytes_as_specs(data: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"spec{suffix}"
        path.write_bytes(data)
        _assert_refused(["cost", str(path)])


def _not_a_count(text: str) -> bool:
    s = text.strip()
    s = s[:-1] if s and s[-1] in "kKMGT" else s
    try:
        value = float(s)
    except ValueError:
        return True
    return not math.isfinite(value) or value < 0


junk = st.one_of(st.text(max_size=8), st.sampled_from(["-1", "nan", "inf", "-inf", "1e400", "", "1,2", "0x10"]))
DESIGN_FLAGS = {  # flag -> predicate "this text is invalid for it"
    "--params": _not_a_count, "--macs": _not_a_count, "--activations": _not_a_count,
    "--gap": lambda t: not _in(t, 0, 1, hi_open=True), "--time-limit": lambda t: not _in(t, 0, math.inf, lo_open=True),
    "--children": lambda t: not _int_at_least(t, 1), "--layers": lambda t: not _int_at_least(t, 1),
    "--rho": lambda t: not _in(t, 0, math.inf, lo_open=True),
}


def _in(text: str, lo: float, hi: float, lo_open: bool = False, hi_open: bool = False) -> bool:
    try:
        x = float(text)
    except ValueError:
        return False
    return math.isfinite(x) and (x > lo if lo_open else x >= lo) and (x < hi if hi_open else x <= hi)


def _int_at_least(text: str, lo: int) -> bool:
    try:
        return int(text) >= lo
    except ValueError:
        return False


@FAST
@given(flag=st.sampled_from(sorted(DESIGN_FLAGS)), value=junk)
def test_design_budget_and_solver_values(flag: str, value: str) -> None:
    assume(not value.startswith("-") or value[1:2].isdigit() or value in ("-inf", "-1"))  # not another flag
    assume(DESIGN_FLAGS[flag](value))
    _assert_refused(["design", f"{flag}={value}"])


OTHER = [
    (["enlarge", "--from", "resnet18", "--macs"], _not_a_count),
    (["mathnas", "solve", "--table", "nb201", "--max-latency"], lambda t: not _in(t, -math.inf, math.inf)),
    (["mathnas", "solve", "--table", "nb201", "--max-macs"], _not_a_count),
    (["eval", "--checkpoint", "x.pt", "--batch-size"], lambda t: not _int_at_least(t, 1)),
    (["train", "--model", "resnet18", "--out", "never", "--epochs"], lambda t: not _int_at_least(t, 1)),
    (["score", "resnet18", "--resolution"], lambda t: not _int_at_least(t, 8)),
]


@FAST
@given(case=st.sampled_from(OTHER), value=junk)
def test_other_command_values(case: tuple, value: str) -> None:
    prefix, invalid = case
    assume(invalid(value))
    assume(not (prefix[0] == "score" and _int_at_least(value, 1)))  # small sides are a spec question
    argv = [*prefix[:-1], f"{prefix[-1]}={value}"]
    _assert_refused(argv)
    assert not Path("never").exists()
