"""Typed configuration: YAML -> dataclasses, overrides, ${ENV}, unknown keys, round trips."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pytest
import yaml

from craft_jepa.configuration import (
    ConfigError,
    build_config,
    config_to_dict,
    dump_config,
    load_config,
    parse_override,
)


@dataclass
class Inner:
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    name: str = "adamw"

    def __post_init__(self) -> None:
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")


@dataclass
class Outer:
    path: str = "x"
    steps: int = 10
    mode: Literal["video", "features"] = "video"
    shards: str | list[str] = ""
    scaler: str | None = None
    flag: bool = False
    optim: Inner = field(default_factory=Inner)


def test_yaml_overrides_and_defaults(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("steps: 5\noptim:\n  lr: 0.1\n  betas: [0.8, 0.9]\n")
    cfg = load_config(Outer, path, ["optim.lr=3e-4", "shards=[a, b]", "scaler=null", "flag=true"])
    assert cfg.steps == 5
    assert cfg.optim.lr == pytest.approx(3e-4)  # PyYAML reads "3e-4" as a string
    assert cfg.optim.betas == (0.8, 0.9)
    assert cfg.shards == ["a", "b"]
    assert cfg.scaler is None and cfg.flag is True
    assert cfg.optim.name == "adamw"  # untouched default


def test_unknown_key_suggests_closest(tmp_path):
    with pytest.raises(ConfigError, match=r"optim\.lrr.*did you mean 'optim\.lr'"):
        load_config(Outer, {"optim": {"lrr": 1.0}})
    with pytest.raises(ConfigError, match=r"did you mean 'steps'"):
        load_config(Outer, None, ["setps=3"])


@pytest.mark.parametrize(
    "tree, key",
    [
        ({"steps": "ten"}, "steps"),
        ({"steps": 1.5}, "steps"),
        ({"flag": "yes please"}, "flag"),
        ({"optim": {"betas": [0.9]}}, "optim.betas"),
        ({"mode": "pixels"}, "mode"),
        ({"optim": 3}, "optim"),
    ],
)
def test_type_errors_name_the_dotted_key(tree, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(Outer, tree)


def test_post_init_errors_name_the_section():
    with pytest.raises(ConfigError, match=r"optim: lr must be > 0"):
        load_config(Outer, {"optim": {"lr": -1.0}})


def test_env_expansion_and_loud_failure():
    cfg = load_config(Outer, {"path": "${ROOT}/data/${NAME}.tar"}, env={"ROOT": "/r", "NAME": "n"})
    assert cfg.path == "/r/data/n.tar"
    with pytest.raises(ConfigError, match=r"path: environment variable \$\{MISSING_VAR\} is not set"):
        load_config(Outer, {"path": "${MISSING_VAR}/x"}, env={})


def test_yaml_is_never_executed(tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text("path: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError, match=r"evil\.yaml:1: invalid YAML"):
        load_config(Outer, path)


def test_bad_override_syntax():
    with pytest.raises(ConfigError, match="key.sub=value"):
        parse_override("optim.lr")
    with pytest.raises(ConfigError, match="is a value, not a section"):
        load_config(Outer, {"steps": 3}, ["steps.x=1"])


def test_dump_round_trip(tmp_path):
    cfg = load_config(Outer, {"shards": ["a"], "optim": {"lr": 0.5}, "mode": "features"})
    text = dump_config(cfg, tmp_path / "out.yaml")
    again = load_config(Outer, tmp_path / "out.yaml")
    assert again == cfg
    assert yaml.safe_load(text) == config_to_dict(cfg)


def test_build_config_requires_a_dataclass():
    with pytest.raises(TypeError):
        build_config(dict, {})
