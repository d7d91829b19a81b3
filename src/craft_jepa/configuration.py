"""Typed configuration: YAML + dotted overrides -> nested dataclasses.

Stage-free: every stage declares its own `@dataclass` config (with `__post_init__`
validation); this module only moves plain YAML values into those dataclasses.

- `load_config(cls, path, overrides)` reads YAML with `yaml.safe_load` (a config can
  never execute code), applies `--set a.b.c=value` overrides (values parsed with
  `yaml.safe_load` semantics), expands `${ENV}` in strings, and builds `cls`.
- Unknown keys are rejected with the closest valid key suggested.
- Types are checked against the dataclass annotations; errors name the dotted key.
- `config_to_dict` / `dump_config` write the resolved config back to YAML.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar, Union

import yaml

T = TypeVar("T")

_ENV_PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class ConfigError(ValueError):
    """A configuration problem; the message names the dotted key (and file when known)."""


# --------------------------------------------------------------------------- overrides


def require_range(name: str, value: float | None, *, at_least: float | None = None, above: float | None = None,
                  note: str = "") -> None:
    """The one range check of config fields: ValueError "NAME must be >= N, got V" (or "> N").

    `value` None passes (an unset optional field); `note` follows the bound in the message."""
    if value is None:
        return
    if at_least is not None and not value >= at_least:
        raise ValueError(f"{name} must be >= {at_least}{note}, got {value}")
    if above is not None and not value > above:
        raise ValueError(f"{name} must be > {above}{note}, got {value}")


def parse_override(text: str) -> tuple[list[str], Any]:
    """`"optim.lr=3e-4"` -> (["optim", "lr"], value) with YAML value semantics."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like key.sub=value")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"override {text!r}: bad dotted key {key!r}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as err:
        raise ConfigError(f"override {text!r}: value is not valid YAML: {err}") from None
    except RecursionError:
        raise ConfigError(f"override {text!r}: value is nested too deeply") from None
    check_tree(value, key)
    return key.split("."), value


def apply_overrides(tree: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Set each dotted override in a (copied) nested dict; creates missing sections."""
    tree = _deep_copy(tree)
    for text in overrides:
        parts, value = parse_override(text)
        node = tree
        for depth, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                dotted = ".".join(parts[: depth + 1])
                raise ConfigError(f"override {text!r}: {dotted} is a value, not a section")
            node = child
        node[parts[-1]] = value
    return tree


MAX_DEPTH = 32  # far deeper than any config
MAX_VALUES = 100_000  # far more values than any config


def check_tree(value: Any, key: str = "") -> None:
    """Refuse what YAML aliases can build before anything recurses over it: cycles
    (`a: &x [*x]`), absurd nesting, and alias bombs that expand to billions of values.
    Linear in the number of distinct nodes (shared ones are measured once)."""
    measured: dict[int, tuple[int, int]] = {}  # id -> (expanded size, height)

    def walk(node: Any, where: str, depth: int, path: set[int]) -> tuple[int, int]:
        if not isinstance(node, (dict, list)):
            return 1, 0
        if id(node) in measured:
            size, height = measured[id(node)]
        else:
            if id(node) in path or depth >= MAX_DEPTH:
                raise ConfigError(f"{where or 'config'}: nested more than {MAX_DEPTH} levels deep "
                                  f"or contains itself (a YAML alias cycle?)")
            path.add(id(node))
            items = node.items() if isinstance(node, dict) else enumerate(node)
            size, height = 1, 0
            for k, child in items:
                child_where = f"{where}[{k}]" if isinstance(node, list) else _join(where, str(k))
                child_size, child_height = walk(child, child_where, depth + 1, path)
                size, height = size + child_size, max(height, child_height + 1)
            path.discard(id(node))
            measured[id(node)] = size, height
        if depth + height > MAX_DEPTH:
            raise ConfigError(f"{where or 'config'}: nested more than {MAX_DEPTH} levels deep")
        return size, height

    size, _ = walk(value, key, 0, set())
    if size > MAX_VALUES:
        raise ConfigError(f"{key or 'config'}: expands to {size} values, more than {MAX_VALUES} "
                          f"(a YAML alias bomb?)")


def _deep_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


# --------------------------------------------------------------------------- ${ENV}


def expand_env(value: Any, env: Mapping[str, str] | None = None, key: str = "") -> Any:
    """Replace `${NAME}` in every string of a nested value; unset NAME is an error."""
    env = os.environ if env is None else env
    if isinstance(value, dict):
        return {k: expand_env(v, env, _join(key, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v, env, f"{key}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, str):
        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in env or env[name] == "":
                raise ConfigError(
                    f"{key or 'config'}: environment variable ${{{name}}} is not set "
                    f"(export {name}=... before running)"
                )
            return env[name]

        return _ENV_PATTERN.sub(substitute, value)
    return value


# --------------------------------------------------------------------------- building


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else str(name)


def build_config(cls: type[T], data: Mapping[str, Any] | None, prefix: str = "") -> T:
    """Build dataclass `cls` from a nested mapping, checking keys and types."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    data = {} if data is None else data
    if not isinstance(data, Mapping):
        raise ConfigError(f"{prefix or 'config'}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for key in data:
        if key not in fields:
            close = difflib.get_close_matches(str(key), list(fields), n=1, cutoff=0.5)
            hint = f"; did you mean {_join(prefix, close[0])!r}?" if close else ""
            valid = ", ".join(sorted(fields))
            raise ConfigError(f"unknown key {_join(prefix, str(key))!r}{hint} (valid: {valid})")
    kwargs: dict[str, Any] = {}
    for name, field in fields.items():
        dotted = _join(prefix, name)
        if name in data:
            kwargs[name] = _coerce(data[name], hints[name], dotted)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise ConfigError(f"missing required key {dotted!r}")
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (ValueError, TypeError) as err:
        raise ConfigError(f"{prefix or cls.__name__}: {err}") from None


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, dotted: str) -> Any:
    """Check `value` against annotation `tp` (converting lists to tuples, ints to floats)."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        return build_config(tp, value, dotted)
    if origin is Union or (hasattr(types, "UnionType") and origin is types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in args:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, dotted)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(f"{dotted}: {value!r} matches none of {_type_name(tp)}")
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{dotted}: {value!r} is not one of {list(args)}")
        return value
    if origin in (list, tuple) or tp in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{dotted}: expected a list, got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(f"{dotted}: expected {len(args)} items, got {len(value)}")
            items = [_coerce(v, a, f"{dotted}[{i}]") for i, (v, a) in enumerate(zip(value, args))]
        else:
            item_tp = args[0] if args else Any
            items = [_coerce(v, item_tp, f"{dotted}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if (origin is tuple or tp is tuple) else items
    if origin is dict or tp is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{dotted}: expected a mapping, got {value!r}")
        val_tp = args[1] if len(args) == 2 else Any
        return {str(k): _coerce(v, val_tp, _join(dotted, str(k))) for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{dotted}: expected true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{dotted}: expected an integer, got {value!r}")
        return value
    if tp is float:
        # PyYAML reads `3e-4` (no dot) as a string; accept any number-looking string.
        if isinstance(value, bool):
            raise ConfigError(f"{dotted}: expected a number, got {value!r}")
        number = None
        if isinstance(value, (int, float)):
            number = float(value)
        elif isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                pass
        if number is None or math.isnan(number):  # NaN is never a setting (and slips past `x > 0`)
            raise ConfigError(f"{dotted}: expected a number, got {value!r}")
        return number
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{dotted}: expected a string, got {value!r}")
        return value
    if tp is type(None):
        if value is not None:
            raise ConfigError(f"{dotted}: expected null, got {value!r}")
        return None
    raise ConfigError(f"{dotted}: unsupported annotation {_type_name(tp)}")


# --------------------------------------------------------------------------- public API


def read_yaml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a YAML mapping with `yaml.safe_load`; errors name the file and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"cannot read config {path}: {err.strerror}") from None
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise ConfigError(f"{where}: invalid YAML: {err}") from None
    except RecursionError:
        raise ConfigError(f"{path}: invalid YAML: nested too deeply") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    try:
        check_tree(data)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None
    return data


def load_config(
    cls: type[T],
    source: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    overrides: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> T:
    """YAML file (or mapping) + dotted overrides + `${ENV}` -> a validated `cls`."""
    if source is None:
        tree: dict[str, Any] = {}
        origin = "defaults"
    elif isinstance(source, Mapping):
        origin = "mapping"
        try:
            check_tree(dict(source))
        except ConfigError as err:
            raise ConfigError(f"{origin}: {err}") from None
        tree = _deep_copy(dict(source))
    else:
        tree = read_yaml(source)
        origin = str(source)
    tree = apply_overrides(tree, overrides)
    try:
        check_tree(tree)  # overrides with very long dotted keys nest too
    except ConfigError as err:
        raise ConfigError(f"{origin}: {err}") from None
    tree = expand_env(tree, env)
    try:
        return build_config(cls, tree)
    except ConfigError as err:
        raise ConfigError(f"{origin}: {err}") from None


def config_to_dict(config: Any) -> Any:
    """A dataclass tree -> plain dicts/lists/scalars (tuples become lists) for YAML/JSON."""
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return {f.name: config_to_dict(getattr(config, f.name)) for f in dataclasses.fields(config)}
    if isinstance(config, (list, tuple)):
        return [config_to_dict(v) for v in config]
    if isinstance(config, dict):
        return {str(k): config_to_dict(v) for k, v in config.items()}
    if isinstance(config, Path):
        return str(config)
    return config


def dump_config(config: Any, path: str | os.PathLike[str] | None = None) -> str:
    """Resolved config as YAML text (written to `path` when given)."""
    text = yaml.safe_dump(config_to_dict(config), sort_keys=False, default_flow_style=None)
    if path is not None:
        Path(path).write_text(text)
    return text
