"""The threat model names only tests that exist, so it cannot drift from the suite."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NAMED = re.compile(r"`(tests/[\w/]+\.py)::(test_\w+)`")


def named_tests() -> list[tuple[str, str]]:
    return NAMED.findall((ROOT / "docs" / "security.md").read_text())


def test_every_test_the_threat_model_names_exists() -> None:
    missing = []
    for path, name in named_tests():
        file = ROOT / path
        tree = (
            ast.parse(file.read_text())
            if file.exists()
            else ast.Module(body=[], type_ignores=[])
        )
        defined = {
            n.name
            for n in tree.body
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
        }
        if name not in defined:
            missing.append(f"{path}::{name}")
    assert missing == []


def test_every_finding_of_the_review_is_in_the_threat_model() -> None:
    text = (ROOT / "docs" / "security.md").read_text()
    assert [
        f"F{n}" for n in range(1, 11) if not re.search(rf"^\| F{n}[ab]? \|", text, re.M)
    ] == []
    assert len(named_tests()) >= 25
