"""The import layers of pyproject's import-linter contract hold: no module imports one above it
(cli > api > generators > training > metrics > ... > config), so the import graph has no cycle
between packages; and no function-level import of ganforge code dodges the contract."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "ganforge"
ROOT = SRC.parents[1]


def test_import_linter_contract_is_kept() -> None:
    pytest.importorskip("importlinter")
    from importlinter.cli import lint_imports

    assert lint_imports(config_filename=str(ROOT / "pyproject.toml")) == 0


def test_no_function_level_imports_across_packages() -> None:
    """import-linter sees function-level imports too; this keeps imports of another ganforge
    package at the top of every file, where their place in the layers is visible. (Within one
    package a lazy import may defer an optional dependency: serve's FastAPI, data's readers.)"""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for inner in ast.walk(node):
                    module = inner.module or "" if isinstance(inner, ast.ImportFrom) else ""
                    own = "ganforge." + ".".join(path.relative_to(SRC).parts[:-1])
                    if module.startswith("ganforge") and not (len(path.relative_to(SRC).parts) > 1
                                                              and module.startswith(own + ".")):
                        found.append(f"{path.relative_to(SRC)}:{inner.lineno} {inner.module}")
    assert found == []
