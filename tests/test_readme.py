"""Every command, flag, config key and path the README names must exist."""

from __future__ import annotations

import dataclasses
import re
import shlex
import typing
from pathlib import Path

import pytest

from craft_jepa.cli.main import COMMANDS, build_parser
from craft_jepa.train.config import RunConfig

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", ROOT / "docs" / "fine-tuning.md", ROOT / "docs" / "pretraining.md", ROOT / "docs" / "droid.md"]


def _code_lines(text: str) -> list[str]:
    """Shell lines of ```bash blocks, with backslash continuations joined."""
    lines: list[str] = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        joined = block.replace("\\\n", " ")
        lines += [line.strip() for line in joined.splitlines() if line.strip() and not line.startswith("#")]
    return lines


def _craft_jepa_invocations(line: str) -> list[list[str]]:
    """argv lists (after the program name) of every craft-jepa call in a shell line."""
    calls = []
    for part in re.split(r"&&|;|\|", line):
        words = shlex.split(part)
        if "craft-jepa" in words:
            calls.append(words[words.index("craft-jepa") + 1:])
        elif "craft_jepa" in words and "-m" in words:  # torchrun ... -m craft_jepa SUBCOMMAND
            calls.append(words[words.index("craft_jepa") + 1:])
    return calls


def _config_keys(cls: type = RunConfig, prefix: str = "") -> set[str]:
    keys = set()
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        name = prefix + f.name
        keys.add(name)
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            keys |= _config_keys(tp, name + ".")
    return keys


def _subparsers() -> dict:
    parser = build_parser()
    action = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return action.choices


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_documented_commands_and_flags_exist(doc: Path) -> None:
    subparsers = _subparsers()
    keys = _config_keys()
    calls = [c for line in _code_lines(doc.read_text()) for c in _craft_jepa_invocations(line)]
    assert calls, f"{doc.name} shows no craft-jepa command"
    for argv in calls:
        command = argv[0]
        assert command in COMMANDS and command in subparsers, f"{doc.name}: unknown command {command!r}"
        parser, first = subparsers[command], 1
        nested = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
        if nested:  # craft-jepa decoder train ...: the action's own parser has the flags
            assert len(argv) > 1 and argv[1] in nested[0].choices, f"{doc.name}: craft-jepa {command} needs an action"
            parser, first = nested[0].choices[argv[1]], 2
        options = set(parser._option_string_actions)
        for i, word in enumerate(argv[first:], start=first):
            if word.startswith("--"):
                flag = word.split("=", 1)[0]
                assert flag in options, f"{doc.name}: craft-jepa {command} has no {flag}"
                if flag == "--set":
                    key = argv[i + 1].split("=", 1)[0]
                    assert key in keys, f"{doc.name}: --set {key}: no such config key"
            elif word.startswith("configs/"):
                assert (ROOT / word).is_file(), f"{doc.name}: {word} does not exist"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_config_keys_named_in_prose_exist(doc: Path) -> None:
    keys = _config_keys()
    sections = {k for k in keys if "." not in k}
    named = re.findall(r"`([a-z_]+(?:\.[a-z_]+)+)(?:[:=][^`]*)?`", doc.read_text())
    config_like = [n for n in named if n.split(".")[0] in sections]
    assert config_like or doc.name != "README.md", "README names no config key"
    for key in config_like:
        assert key in keys, f"{doc.name}: `{key}` is not a config key"


def test_readme_setup_commands_are_make_targets_and_ci_runs_the_test_one() -> None:
    readme = (ROOT / "README.md").read_text()
    lines = _code_lines(readme)
    assert "make demo" in lines and "make test" in lines
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^demo:", makefile, flags=re.M) and re.search(r"^test:", makefile, flags=re.M)
    assert "craft-jepa demo" in makefile
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_linked_files_exist() -> None:
    for doc in DOCS:
        for target in re.findall(r"\]\(([^)#]+)\)", doc.read_text()):
            if "://" in target:
                continue
            assert (doc.parent / target).exists(), f"{doc.name} links to missing {target}"
