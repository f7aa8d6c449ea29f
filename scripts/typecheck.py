"""Type-check the ``proda`` namespace as it is installed.

docs/design.md fixes the top-level folders (schema/, services/, ...) that install as subpackages of
``proda`` through setuptools' ``package-dir`` mapping. mypy resolves modules from the file system
and cannot follow that mapping (nor an editable install's import hook), so this script mirrors the
mapping as a tree of symlinks under build/typecheck and runs mypy on it. The mapping is read from
pyproject.toml, so it cannot drift from the packaging.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def mirror(root: Path, tree: Path) -> None:
    """A ``proda`` folder under ``tree`` whose links follow the ``package-dir`` mapping of the checkout at
    ``root``: with ``tree`` first on a path, ``proda`` is that checkout's code (also used by
    benchmarks/extract_sample.py to run another commit's extractor)."""
    mapping: dict[str, str] = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-dir"]
    top = tree / "proda"
    top.mkdir(parents=True)
    for entry in (root / mapping["proda"]).iterdir():
        if entry.name != "__pycache__":
            (top / entry.name).symlink_to(entry)
    for package, folder in mapping.items():
        if package != "proda":
            (top / package.split(".", 1)[1]).symlink_to(root / folder)


def main() -> int:
    tree = ROOT / "build" / "typecheck"
    shutil.rmtree(tree, ignore_errors=True)
    mirror(ROOT, tree)
    cmd = [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"), "-p", "proda"]
    return subprocess.call(cmd, cwd=tree)


if __name__ == "__main__":
    sys.exit(main())
