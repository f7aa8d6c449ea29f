"""Generate the Python code of the ``proda.v1`` protos: the one command behind every install.

``setup.py`` runs :func:`generate` before ``build_py`` (so ``pip install .`` and ``pip install -e .``
both produce it, with ``grpcio-tools`` and ``mypy-protobuf`` from ``[build-system].requires``), and a
developer who edited a ``.proto`` runs the same code by hand::

    python -m proda.services.codegen        # needs grpcio-tools and mypy-protobuf (the test extra)

The output is ``src/proda/v1/`` (git-ignored, never edited): messages (``*_pb2.py``), gRPC stubs and
servicers (``*_pb2_grpc.py``) and typed stubs of both (``*.pyi``, by mypy-protobuf) for mypy --strict.
The include root is ``proto/``, so the files sit at ``proda/v1/*.proto`` and the generated imports
(``from proda.v1 import values_pb2``) are right without any rewriting.

This module is loaded by ``setup.py`` by file path inside the isolated build environment, before
``proda`` is installed: it may import the standard library only (``grpc_tools`` lazily).
"""

from __future__ import annotations

import os
import stat
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"
OUT_ROOT = ROOT / "src"
PACKAGE = ("proda", "v1")

_INIT = '"""Generated from proto/proda/v1 by proda.services.codegen at install time; do not edit."""\n'
# protoc runs plugins as executables found by name. Wrapping mypy-protobuf in a script that calls
# this interpreter works whether or not its console scripts are on PATH (pip's isolated build
# environments do not always put them there).
_PLUGIN = '#!/bin/sh\nexec "{python}" -c "from mypy_protobuf.main import {entry}; {entry}()"\n'


class CodegenError(RuntimeError):
    """protoc failed; the message holds its exit status (protoc printed the details on stderr)."""


def proto_files(proto_root: Path = PROTO_ROOT) -> list[Path]:
    """The ``.proto`` files of the package, sorted."""
    return sorted((proto_root.joinpath(*PACKAGE)).glob("*.proto"))


def _plugin(folder: Path, name: str, entry: str) -> Path:
    path = folder / name
    path.write_text(_PLUGIN.format(python=sys.executable, entry=entry))
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def generate(proto_root: Path = PROTO_ROOT, out_root: Path = OUT_ROOT) -> list[Path]:
    """Compile every proto of ``proto_root/proda/v1`` into ``out_root/proda/v1``; returns the files written.

    The package folder is replaced as a whole, so code of a deleted proto does not linger and a
    failed run leaves the previous output in place. Raises :class:`CodegenError` when protoc fails
    and :class:`FileNotFoundError` when there is no proto to compile.
    """
    from grpc_tools import protoc  # build-time dependency only

    files = proto_files(proto_root)
    if not files:
        raise FileNotFoundError(f"no .proto files under {proto_root.joinpath(*PACKAGE)}")
    well_known = Path(protoc.__file__).resolve().parent / "_proto"
    target = out_root.joinpath(*PACKAGE)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="proda-codegen-", dir=target.parent) as tmp:
        staging, plugins = Path(tmp) / "out", Path(tmp) / "plugins"
        staging.mkdir()
        plugins.mkdir()
        args = [
            "grpc_tools.protoc",
            f"--proto_path={proto_root}",
            f"--proto_path={well_known}",
            f"--python_out={staging}",
            f"--grpc_python_out={staging}",
            f"--plugin=protoc-gen-mypy={_plugin(plugins, 'protoc-gen-mypy', 'main')}",
            f"--mypy_out={staging}",
            f"--plugin=protoc-gen-mypy_grpc={_plugin(plugins, 'protoc-gen-mypy_grpc', 'grpc')}",
            f"--mypy_grpc_out={staging}",
            *(str(f.relative_to(proto_root)) for f in files),
        ]
        status = protoc.main(args)
        if status != 0:
            raise CodegenError(f"protoc exited with status {status} compiling {proto_root}")
        produced = staging.joinpath(*PACKAGE)
        (produced / "__init__.py").write_text(_INIT)
        old = Path(tmp) / "old"
        if target.exists():
            os.replace(target, old)
        os.replace(produced, target)
    return sorted(target.iterdir())


def main() -> int:
    """Regenerate ``src/proda/v1`` from ``proto/`` and list what was written."""
    try:
        written = generate()
    except (CodegenError, FileNotFoundError, ImportError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for path in written:
        print(path.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())

