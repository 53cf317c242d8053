"""Package `__init__`s export a curated surface, and every `__all__` of the runtime package says the truth.

A package re-exports only what other layers, the entry points, bench, dev and tests import from the package; the
rest is imported from its module. These tests keep that surface honest as modules move: nothing dangling, nothing
re-exported that no module exports, no public name outside `__all__`.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from types import ModuleType

import pytest

import dbd_playerstats

PACKAGES = ["dbd_playerstats.upstream", "dbd_playerstats.store", "dbd_playerstats.steam", "dbd_playerstats.telemetry"]


def runtime_modules() -> list[str]:
    """Every module of the runtime package, packages included (the simulator too: the demo and bench use it)."""
    found = pkgutil.walk_packages(dbd_playerstats.__path__, prefix="dbd_playerstats.")
    return ["dbd_playerstats", *sorted(info.name for info in found)]


def exporters(name: str, value: object, package: str) -> list[str]:
    """The modules that list `name` in their `__all__` bound to `value`: a submodule of `package`, or the module
    that defines `value` (the store re-exports the merge values of `domain.merge`)."""
    candidates = [m for m in runtime_modules() if m.startswith(package + ".")]
    defined_in = getattr(value, "__module__", None)
    if isinstance(defined_in, str) and defined_in.startswith("dbd_playerstats.") and defined_in != package:
        candidates.append(defined_in)
    found = []
    for module_name in candidates:
        module = importlib.import_module(module_name)
        if name in getattr(module, "__all__", ()) and getattr(module, name, None) is value:
            found.append(module_name)
    return found


def public_names(module: ModuleType) -> set[str]:
    """The public names a module binds, less its submodules and the two typing idioms (`from __future__ import
    annotations`, `if TYPE_CHECKING:`)."""
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and not inspect.ismodule(value) and name not in {"annotations", "TYPE_CHECKING"}
    }


@pytest.mark.parametrize("package", PACKAGES)
def test_package_exports_only_what_a_submodule_exports(package: str) -> None:
    """Each name of the package's `__all__` resolves to what a submodule exports under that name (or to a function
    the `__init__` defines, like `store.open_store`), once; and the package binds no other public name."""
    module = importlib.import_module(package)
    surface = list(module.__all__)
    assert len(surface) == len(set(surface)), sorted(name for name in surface if surface.count(name) > 1)
    assert public_names(module) == set(surface)
    for name in surface:
        value = getattr(module, name)
        if getattr(value, "__module__", None) == package:
            continue
        assert exporters(name, value, package), f"{package}.{name} is not exported by any module"


@pytest.mark.parametrize("module_name", runtime_modules())
def test_every_module_all_resolves(module_name: str) -> None:
    """Every name a module of the runtime package lists in `__all__` exists there, so `import *` and the package
    re-exports never meet a stale name."""
    module = importlib.import_module(module_name)
    missing = [name for name in getattr(module, "__all__", ()) if not hasattr(module, name)]
    assert not missing, f"{module_name}: {missing}"
