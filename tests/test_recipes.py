"""Config dataclasses built from recipes (proda.recipes): values checked against their fields' types."""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path

import pytest
import yaml

from proda.cli.context import load_recipe
from proda.errors import ConfigError
from proda.pipelines.tester.config import BenchConfig
from proda.recipes import FromRecipe, _adapters
from proda.training.sft import TrainConfig

CONFIGS = ("proda.training.sft:TrainConfig", "proda.training.evaluate:EvalConfig",
           "proda.training.refine_sft:RefineSFTConfig", "proda.training.refine_classifier:RefineClassifierConfig",
           "proda.pipelines.tester.config:BenchConfig", "proda.pipelines.build.config:BuildConfig",
           "proda.pipelines.debug.config:PatchConfig", "proda.pipelines.debug.loop:LoopConfig",
           "proda.pipelines.extract.config:ExtractConfig", "proda.pipelines.extract.compose:ComposeConfig",
           "proda.pipelines.refine.config:RefineConfig", "proda.pipelines.refine.config:DistillConfig")


def test_yaml_numbers_written_the_usual_way_are_numbers(tmp_path: Path) -> None:
    recipe = tmp_path / "v1.yaml"
    # PyYAML reads 2e-5 (no dot) as a string; a recipe means the number
    recipe.write_text("learning_rate: 2e-5\nmax_steps: 12\nlora_target_modules: [q_proj, v_proj]\n")
    assert yaml.safe_load(recipe.read_text())["learning_rate"] == "2e-5"
    config = TrainConfig.from_dict(load_recipe(recipe, "TrainConfig"), source=str(recipe))
    assert config.learning_rate == 2e-5 and isinstance(config.learning_rate, float)
    assert config.max_steps == 12 and config.lora_target_modules == ("q_proj", "v_proj")
    assert BenchConfig.from_dict({"test_ratio": "0.2", "seed": 3.0}).test_ratio == 0.2


@pytest.mark.parametrize(("values", "message"), [
    ({"max_steps": "ten"}, r"^r.yaml: max_steps: Input should be a valid integer.* \(got 'ten'\)$"),
    ({"learning_rate": "fast"}, r"^r.yaml: learning_rate: Input should be a valid number.* \(got 'fast'\)$"),
    ({"max_steps": 2.5}, r"^r.yaml: max_steps: .*fractional part \(got 2.5\)$"),
    ({"method": ["lora"]}, r"^r.yaml: method: Input should be a valid string \(got \['lora'\]\)$"),
])
def test_a_value_of_the_wrong_type_names_its_field_and_value(values: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        TrainConfig.from_dict(values, source="r.yaml")


@pytest.mark.parametrize("path", CONFIGS)
def test_every_field_of_every_config_is_checked(path: str) -> None:
    module, name = path.split(":")
    cls = getattr(importlib.import_module(module), name)
    assert issubclass(cls, FromRecipe)
    assert set(_adapters(cls)) == {f.name for f in dataclasses.fields(cls)}
