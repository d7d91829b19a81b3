"""The layers of docs/architecture.md hold: import-linter's contract (.importlinter), every module
listed in its package docstring, no source file over 400 lines."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "craft_jepa"
MAX_LINES = 400


def test_layer_contract_holds():
    """A wrong arrow (a lower layer importing a higher one, an import loop) fails the build."""
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    if lint is None:
        pytest.fail("lint-imports is not installed: `pip install -e '.[test]'` brings import-linter")
    result = subprocess.run([lint, "--config", str(REPO / ".importlinter")], cwd=REPO, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def _packages() -> list[Path]:
    return sorted(p.parent for p in PACKAGE.rglob("__init__.py"))


@pytest.mark.parametrize("package", _packages(), ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_package_docstring_lists_every_module(package: Path):
    doc = ast.get_docstring(ast.parse((package / "__init__.py").read_text())) or ""
    modules = [p.stem for p in package.glob("*.py") if p.name != "__init__.py" and p.stem != "__main__"]
    modules += [p.name for p in package.iterdir() if (p / "__init__.py").is_file()]
    missing = [m for m in modules if m not in doc]
    assert not missing, f"{package}/__init__.py's docstring does not name {missing}"


def test_no_source_file_over_400_lines():
    long = {str(p.relative_to(REPO)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"split these files (more than {MAX_LINES} lines): {long}"
