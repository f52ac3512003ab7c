"""Imports point down: the user's side (``twi_asr``) may use infra and inference, never the reverse.

``inference/`` ships alone as ``code/`` in model.tar.gz and ``infra/lambdas/`` alone as the
Lambda asset, so neither may import the other packages; the CDK app (``infra/``) may use
``twi_endpoint`` (installed with the project) but never the CLI package. The contract both
artefacts carry (``twi_contract``) imports the standard library only.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SKIPPED = {"node_modules", "cdk.out", "__pycache__"}
FORBIDDEN = {  # folder -> top-level packages its modules must not import
    "inference": {"twi_asr", "twi_infra", "twi_lambdas"},
    "infra/lambdas": {"twi_asr", "twi_infra", "twi_endpoint"},
    "infra": {"twi_asr"},
}


def _imported_packages(path: Path) -> set[str]:
    """Top-level packages ``path`` imports anywhere, inside functions too."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("folder", sorted(FORBIDDEN))
def test_imports_point_down(folder: str) -> None:
    modules = [p for p in (ROOT / folder).rglob("*.py") if not SKIPPED & set(p.parts)]
    assert modules
    wrong = {str(p.relative_to(ROOT)): _imported_packages(p) & FORBIDDEN[folder] for p in modules}
    assert {path: sorted(names) for path, names in wrong.items() if names} == {}


def test_the_contract_imports_the_standard_library_only() -> None:
    imported = _imported_packages(ROOT / "inference" / "twi_contract.py")
    assert imported and imported <= set(sys.stdlib_module_names) | {"__future__"}
