"""The protos: generated code is current, and ``buf lint`` passes.

The generated package (src/proda/v1) is build output, made by ``proda.services.codegen`` when the
project is installed. An editable install does not notice a later edit of a .proto, so the first
test compares what is installed with what the protos say now, descriptor by descriptor (which does
not depend on the protoc version), and says how to regenerate.

``buf lint`` comes from the ``@bufbuild/buf`` npm package at a pinned version, run through npx (it
caches the download after the first run). The test is skipped, with the reason in the summary, only
where npx itself is missing; a lint finding or a failed download fails it.
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2

from proda.services import codegen

BUF = "@bufbuild/buf@1.75.0"
PROTO = Path(codegen.PROTO_ROOT)


def _without_json_names(file: descriptor_pb2.FileDescriptorProto) -> descriptor_pb2.FileDescriptorProto:
    """protoc fills in json_name, the runtime's copy of a descriptor leaves it out: neither is an edit."""
    stack = list(file.message_type)
    while stack:
        message = stack.pop()
        for field in message.field:
            field.ClearField("json_name")
        stack.extend(message.nested_type)
    return file


def test_generated_code_matches_the_protos(tmp_path: Path) -> None:
    protoc = pytest.importorskip("grpc_tools.protoc", reason="grpcio-tools is not installed (pip install -e '.[test]')")
    out = tmp_path / "set.pb"
    files = [str(f.relative_to(PROTO)) for f in codegen.proto_files()]
    well_known = Path(protoc.__file__).resolve().parent / "_proto"
    assert protoc.main(["protoc", f"--proto_path={PROTO}", f"--proto_path={well_known}",
                        f"--descriptor_set_out={out}", *files]) == 0
    compiled = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    assert sorted(f.name for f in compiled.file) == sorted(files)
    for expected in compiled.file:
        module = importlib.import_module(expected.name.removesuffix(".proto").replace("/", ".") + "_pb2")
        installed = descriptor_pb2.FileDescriptorProto()
        module.DESCRIPTOR.CopyToProto(installed)
        assert _without_json_names(installed) == _without_json_names(expected), (
            f"src/proda/v1 is older than {expected.name}: regenerate it with `python -m proda.services.codegen` "
            "(or reinstall: pip install -e .)")


def test_codegen_writes_a_complete_typed_package(tmp_path: Path) -> None:
    pytest.importorskip("grpc_tools.protoc", reason="grpcio-tools is not installed (pip install -e '.[test]')")
    pytest.importorskip("mypy_protobuf", reason="mypy-protobuf is not installed (pip install -e '.[test]')")
    written = {p.name for p in codegen.generate(PROTO, tmp_path)}
    stems = [f.stem for f in codegen.proto_files()]
    assert "__init__.py" in written
    for stem in stems:
        assert {f"{stem}_pb2.py", f"{stem}_pb2.pyi", f"{stem}_pb2_grpc.py", f"{stem}_pb2_grpc.pyi"} <= written
    again = {p.name for p in codegen.generate(PROTO, tmp_path)}
    assert again == written  # regenerating replaces the package, leaving nothing stale behind


def test_buf_lint() -> None:
    npx = shutil.which("npx")
    if npx is None:
        pytest.skip(f"npx (Node.js) is not installed, so `buf lint` ({BUF}) did not run")
    result = subprocess.run([npx, "--yes", BUF, "lint"], cwd=PROTO, capture_output=True, text=True, timeout=600,
                            check=False)
    assert result.returncode == 0, f"buf lint failed (or {BUF} could not be fetched from npm):\n" \
                                   f"{result.stdout}\n{result.stderr}"
