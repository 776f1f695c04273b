"""Spec validation, JSON round trip and the preset registry."""

from __future__ import annotations

import json
import random

import pytest

from deepmad.errors import SpecError
from deepmad.spec import (
    ConvBNAct,
    HeadSpec,
    NetworkSpec,
    StageSpec,
    get_preset,
    list_presets,
    load_spec,
    register_preset,
    spec_from_dict,
)
from deepmad.testing import random_spec

ALL = list_presets()


def _stage(**kw) -> StageSpec:  # noqa: ANN003
    base = dict(block="res_k1kxk1", out_channels=64, bottleneck_channels=16, depth=2, stride=2, kernel_size=3)
    base.update(kw)
    return StageSpec(**base)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"stride": 3}, r"StageSpec.stride=3 is invalid; allowed: 1 or 2"),
        ({"kernel_size": 4}, r"StageSpec.kernel_size=4 is invalid; expected an odd kernel"),
        ({"out_channels": 0}, r"StageSpec.out_channels=0 is invalid; expected a positive integer"),
        ({"depth": -1}, r"StageSpec.depth=-1 is invalid"),
        ({"bottleneck_channels": 2.5}, r"StageSpec.bottleneck_channels=2.5 is invalid"),
        ({"block": "res_magic"}, r"StageSpec.block='res_magic' is not a known block kind; allowed: "),
        ({"shortcut": "keras"}, r"StageSpec.shortcut='keras' is invalid; allowed: tinynas, torchvision"),
        ({"act": "gelu"}, r"StageSpec.act='gelu' is invalid; allowed: relu, silu, hswish, none"),
        ({"conv": "fancy"}, r"StageSpec.conv='fancy' is invalid; allowed: plain, ic"),
    ],
)
def test_bad_stage_gives_one_line_error_naming_field_and_allowed(kwargs: dict, message: str) -> None:
    with pytest.raises(SpecError, match=message) as info:
        _stage(**kwargs)
    assert "\n" not in str(info.value)


def test_bad_network_fields() -> None:
    with pytest.raises(SpecError, match="ConvBNAct.groups=3 does not divide out_channels=16"):
        ConvBNAct(out_channels=16, groups=3)
    with pytest.raises(SpecError, match="NetworkSpec.resolution=0 is invalid"):
        NetworkSpec(stem=ConvBNAct(16), stages=(_stage(),), resolution=0)
    with pytest.raises(SpecError, match=r"NetworkSpec.stages=\(\) is invalid"):
        NetworkSpec(stem=ConvBNAct(16), stages=())
    with pytest.raises(SpecError, match="HeadSpec.num_classes=-1 is invalid"):
        HeadSpec(num_classes=-1)
    with pytest.raises(SpecError, match="stem groups=2 does not divide in_channels=3"):
        NetworkSpec(stem=ConvBNAct(16, groups=2), stages=(_stage(),))


def test_specs_are_frozen_and_input_channels_are_derived() -> None:
    spec = get_preset("deepmad_r50")
    with pytest.raises(AttributeError):
        spec.resolution = 10  # type: ignore[misc]
    assert [spec.stage_in_channels(i) for i in range(5)] == [32, 128, 512, 872, 1024]
    assert spec.with_stage(0, out_channels=256).stage_in_channels(1) == 256


@pytest.mark.parametrize("name", ALL)
def test_json_round_trip_presets(name: str) -> None:
    spec = get_preset(name)
    text = json.dumps(spec.to_dict())
    assert NetworkSpec.from_dict(json.loads(text)) == spec


@pytest.mark.parametrize("seed", range(50))
def test_json_round_trip_random(seed: int) -> None:
    spec = random_spec(random.Random(seed))
    assert spec_from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


def test_unknown_keys_and_versions_are_rejected() -> None:
    d = get_preset("resnet18").to_dict()
    with pytest.raises(SpecError, match=r"spec has unknown key\(s\) \['colour'\]"):
        spec_from_dict({**d, "colour": "red"})
    bad_stage = {**d, "stages": [{**d["stages"][0], "widht": 3}]}
    with pytest.raises(SpecError, match=r"stages\[0\] has unknown key\(s\) \['widht'\]"):
        spec_from_dict(bad_stage)
    with pytest.raises(SpecError, match="schema_version=99 is not supported; expected 1"):
        spec_from_dict({**d, "schema_version": 99})
    with pytest.raises(SpecError, match=r"stem.type='pyramid' is invalid"):
        spec_from_dict({**d, "stem": {"type": "pyramid"}})


def test_registry() -> None:
    assert set(ALL) >= {"deepmad_r18", "deepmad_r34", "deepmad_r50", "deepmad_29m_224",
                        "deepmad_29m_288", "deepmad_50m", "deepmad_89m", "resnet18", "resnet34", "resnet50"}
    assert list_presets("resnet*") == ["resnet18", "resnet34", "resnet50"]
    with pytest.raises(SpecError, match="unknown preset 'resnet19'; allowed: "):
        get_preset("resnet19")
    with pytest.raises(ValueError, match="already registered"):
        register_preset("resnet18", get_preset("resnet18"))


def test_load_spec_sources(tmp_path) -> None:  # noqa: ANN001
    spec = get_preset("deepmad_r18")
    path = tmp_path / "r18.json"
    path.write_text(json.dumps({"objective": 1.0, "spec": spec.to_dict()}))  # a design result file
    assert load_spec(path) == spec
    assert load_spec("deepmad_r18", resolution=96).resolution == 96
    with pytest.raises(SpecError, match="does not exist"):
        load_spec(tmp_path / "missing.json")
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(SpecError, match="not valid JSON"):
        load_spec(tmp_path / "broken.json")
