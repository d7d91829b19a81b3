"""Fuzz the config loader (`craft_jepa.configuration`) with the real RunConfig: damaged YAML,
wrong values, unknown keys and random overrides either load or raise `ConfigError` (never
another exception, never code execution), and an error about a value names its key.
(The jsonl parser is fuzzed in test_jsonl_fuzz.py.)"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from craft_jepa.configuration import ConfigError, config_to_dict, load_config
from craft_jepa.train.config import RunConfig

PRESET = Path(__file__).resolve().parents[2] / "configs" / "tiny-cpu.yaml"
BASE = yaml.safe_load(PRESET.read_text())
BASE["data"]["train_shards"] = "/data/shard-{000000..000009}.tar"
BASE_TEXT = yaml.safe_dump(BASE, sort_keys=False)
# CRAFT_JEPA_FUZZ_EXAMPLES=4000 for a longer hunt (about a minute per test on 2 cores).
FUZZ = settings(max_examples=int(os.environ.get("CRAFT_JEPA_FUZZ_EXAMPLES", 200)), deadline=None,
                suppress_health_check=[HealthCheck.too_slow])  # derandomized: see tests/conftest.py
SCRATCH = Path(tempfile.mkdtemp(prefix="config-fuzz-"))


def _leaves(tree: dict, prefix: str = "") -> list[str]:
    out = []
    for key, value in tree.items():
        dotted = f"{prefix}.{key}" if prefix else key
        out += _leaves(value, dotted) if isinstance(value, dict) else [dotted]
    return out


# Every settable leaf of the resolved RunConfig (including fields the preset leaves at default).
LEAVES = _leaves(config_to_dict(load_config(RunConfig, BASE)))

values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=5,
)
YAML_NOISE = list("&*!|>:-[]{},#%@`'\"?\n\t ~=$") + [
    "!!python/object/apply:os.system ['echo pwned'] ", "!!python/name:os.system ", "&a ", "*a ",
    "${HOME} ", "${UNSET_VAR} ", "\xff", ".nan ", "- ", ": ", "<<: *a ",
]


def _load(text: str | bytes, overrides: list[str] = ()) -> RunConfig | None:
    path = SCRATCH / "fuzz.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
    try:
        return load_config(RunConfig, path, overrides, env={"HOME": "/home/u"})
    except ConfigError as err:
        assert str(err), "a ConfigError must say something"
        return None


@FUZZ
@given(st.lists(st.tuples(st.integers(0, len(BASE_TEXT)), st.sampled_from(YAML_NOISE) | st.text(max_size=4),
                          st.integers(0, 6)), min_size=1, max_size=6))
def test_damaged_yaml_loads_or_raises_config_error(edits):
    text = BASE_TEXT
    for at, insert, delete in edits:  # insert noise, delete a few characters after it
        at = min(at, len(text))
        text = text[:at] + insert + text[at + delete:]
    _load(text)


@FUZZ
@given(st.binary(max_size=200))
def test_random_bytes_load_or_raise_config_error(data):
    _load(data)


@FUZZ
@given(st.sampled_from(LEAVES), values, st.booleans())
def test_a_wrong_value_is_refused_naming_its_key(leaf, value, as_override):
    tree = yaml.safe_load(BASE_TEXT)
    overrides: list[str] = []
    if as_override:
        overrides = [f"{leaf}={yaml.safe_dump(value, default_flow_style=True).strip().removesuffix('...').strip()}"]
    else:
        node = tree
        *sections, name = leaf.split(".")
        for section in sections:
            node = node.setdefault(section, {})
        node[name] = value
    try:
        cfg = load_config(RunConfig, tree, overrides, env={})
    except ConfigError as err:
        field = leaf.split(".")[-1]
        assert field in str(err), (leaf, value, str(err))
        return
    # Accepted: then it was a value of the right type, and it round-trips.
    assert load_config(RunConfig, config_to_dict(cfg)) == cfg
    if isinstance(value, float):
        assert not math.isnan(value)


@FUZZ
@given(st.sampled_from(["", "data.", "optim.", "clip.", "encoder.", "predictor.", "checkpoint."]),
       st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12))
def test_an_unknown_key_is_refused_naming_it(section, name):
    dotted = section + name
    if dotted in LEAVES or any(leaf.startswith(dotted + ".") for leaf in LEAVES):
        return
    with pytest.raises(ConfigError, match=f"unknown key '{dotted}'"):
        load_config(RunConfig, BASE, [f"{dotted}=1"], env={})


@FUZZ
@given(st.lists(st.text(max_size=30), max_size=4))
def test_random_overrides_load_or_raise_config_error(overrides):
    try:
        load_config(RunConfig, BASE, overrides, env={})
    except ConfigError:
        pass


@pytest.mark.parametrize("text, message", [
    ("data: &x {train_shards: [*x]}\n", r"data.train_shards\[0\]: .*contains itself"),
    ("a: &a [1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
     "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n",
     "alias bomb"),
    ("a: " + "[" * 2000 + "]" * 2000 + "\n", "nested too deeply"),
    (b"run_dir: \xff\xfe\n", "not UTF-8"),
    ("data: {train_shards: x}\noptim: {lr: .nan}\n", "optim.lr: expected a number, got nan"),
    ("run_dir: !!python/object/apply:os.system ['echo pwned']\n", "invalid YAML"),
])
def test_hostile_yaml_found_by_fuzzing_is_a_config_error(tmp_path, text, message):
    path = tmp_path / "hostile.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ConfigError, match=message):
        load_config(RunConfig, path, env={})
