"""Build hook: generate ``src/proda/v1`` from ``proto/`` before the Python files are collected.

Everything else about the package is declared in pyproject.toml. ``build_py`` runs for a wheel
(``pip install .``) and, in editable mode, for ``pip install -e .`` too, so one hook covers both
(``egg_info`` only fills in a missing package, because pip lists the files before building);
``grpcio-tools`` and ``mypy-protobuf`` come from ``[build-system].requires``. The generator is
``services/codegen.py``, loaded by path because ``proda`` is not importable while it is being built.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.egg_info import egg_info
from setuptools.command.sdist import sdist

ROOT = Path(__file__).resolve().parent


def _codegen() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_proda_codegen", ROOT / "services" / "codegen.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class BuildPyWithProtos(build_py):
    """``build_py`` that first compiles the protos into the package."""

    def run(self) -> None:
        codegen = _codegen()
        for path in codegen.generate():
            self.announce(f"generated {path.relative_to(ROOT)}", level=2)
        super().run()


class EggInfoWithProtos(egg_info):
    """``egg_info`` that makes sure the generated package exists: listing the package's files (which
    pip asks for before any build) fails on a package folder that is not there yet."""

    def run(self) -> None:
        codegen = _codegen()
        if not (codegen.OUT_ROOT / "proda" / "v1" / "__init__.py").exists():
            codegen.generate()
        super().run()


class SdistWithProtos(sdist):
    """``sdist`` that ships the protos (and buf.yaml), since a wheel built from it generates code from them."""

    def add_defaults(self) -> None:
        super().add_defaults()
        self.filelist.extend(str(p.relative_to(ROOT)) for p in sorted((ROOT / "proto").rglob("*"))
                             if p.is_file())


setup(cmdclass={"build_py": BuildPyWithProtos, "egg_info": EggInfoWithProtos, "sdist": SdistWithProtos})
