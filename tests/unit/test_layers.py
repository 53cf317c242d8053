"""The layout of docs/architecture.md, enforced: layers import only downwards, and modules stay small."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "server" / "dbd_playerstats"
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 60
MAX_ROOT_MODULES = 6

# What each layer may import from the package (besides itself, domain/, errors.py and config/), as module
# prefixes. `steam.models` are the typed values Steam's answers parse into: pure data every layer may hold. The
# simulator is a separate program that shares only the Steam models and the domain's data.
ALLOWED: dict[str, set[str]] = {
    "api": {"service", "cache", "upstream", "steam", "store", "telemetry"},
    "service": {"cache", "upstream", "steam", "store", "telemetry"},
    "cache": {"upstream", "steam", "telemetry"},
    "upstream": {"steam"},
    "steam": set(),
    "store": set(),
    "domain": set(),
    "config": set(),
    "telemetry": {"upstream", "steam"},
    "sim": {"steam"},
}
EVERYWHERE = {"domain", "errors", "config", "steam.models"}


def _python_files(*roots: Path) -> list[Path]:
    return sorted(p for root in roots for p in root.rglob("*.py") if "_pb2" not in p.name)


def _own_code() -> list[Path]:
    """Every hand-written module: server, client, dev, bench, scripts and tests, less generated code and data."""
    roots = [PACKAGE, ROOT / "client" / "dbd_playerstats_client", ROOT / "dev", ROOT / "bench", ROOT / "tests"]
    return [p for p in _python_files(*roots) if p != PACKAGE / "sim" / "fixtures.py"]


def _imported_modules(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _target(module: str) -> str | None:
    """`x.y...` for a `dbd_playerstats.x.y...` module, None for anything outside the package."""
    parts = module.split(".")
    if parts[0] != "dbd_playerstats" or len(parts) < 2:
        return None
    return ".".join(parts[1:])


@pytest.mark.parametrize("path", _own_code(), ids=lambda p: str(p.relative_to(ROOT)))
def test_modules_and_functions_stay_small(path: Path) -> None:
    """No module over 450 lines and no function over 60: each has one job a reader can hold in mind."""
    text = path.read_text()
    assert text.count("\n") <= MAX_MODULE_LINES, f"{path.name} has {text.count(chr(10))} lines"
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            assert length <= MAX_FUNCTION_LINES, f"{node.name} (line {node.lineno}) has {length} lines"


def test_the_package_root_holds_only_the_wiring() -> None:
    """At most six modules at the root: the rest lives in the folder of its layer."""
    root_modules = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(root_modules) <= MAX_ROOT_MODULES, root_modules


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layers_import_only_downwards(layer: str) -> None:
    """A layer never imports the layers above it: steam/ knows no cache, upstream/ no service, domain/ nothing."""
    allowed = ALLOWED[layer] | EVERYWHERE | {layer}
    for path in _python_files(PACKAGE / layer):
        for module in _imported_modules(ast.parse(path.read_text())):
            target = _target(module)
            if target is None:
                continue
            assert any(target == a or target.startswith(a + ".") for a in allowed), (
                f"{path.relative_to(PACKAGE)} imports {module}"
            )


def test_the_runtime_package_carries_no_development_code() -> None:
    """Test helpers, the OTLP receiver and the trace tree live in dev/, which the Dockerfile never installs."""
    names = {p.stem for p in _python_files(PACKAGE)}
    assert not names & {"testing", "receiver", "tree", "otlp_receiver", "trace_tree", "demo"}, names
    assert "dev" in (ROOT / ".dockerignore").read_text().split()
