"""Generate Python protobuf/gRPC code (with .pyi stubs) from protos/ into a target directory.

Usage: python scripts/gen_protos.py [OUT_DIR]   (default: libs/proto/src)
"""

from __future__ import annotations

import pathlib
import sys

import grpc_tools
from grpc_tools import protoc

ROOT = pathlib.Path(__file__).resolve().parents[1]
PROTOS = ROOT / "protos"


def generate(out_dir: pathlib.Path) -> list[pathlib.Path]:
    """Run protoc over every .proto under protos/ragplane and return the generated files."""
    out_dir.mkdir(parents=True, exist_ok=True)
    # Only our own files: protos/google/rpc/status.proto is there for imports, and its Python module comes from
    # googleapis-common-protos at run time (one Status class in the process, the one grpcio-status uses).
    sources = sorted(str(p.relative_to(PROTOS)) for p in (PROTOS / "ragplane").rglob("*.proto"))
    include = pathlib.Path(grpc_tools.__file__).parent / "_proto"
    args = [
        "protoc",
        f"-I{PROTOS}",
        f"-I{include}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *sources,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    generated = []
    for package_dir in {p.parent for p in out_dir.rglob("*_pb2.py")}:
        init = package_dir / "__init__.py"
        init.write_text('"""Generated from protos/; do not edit."""\n')
        (package_dir / "py.typed").write_text("")
        generated.extend(sorted(package_dir.iterdir()))
    return generated


if __name__ == "__main__":
    target = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "libs" / "proto" / "src"
    for path in generate(target):
        print(path.relative_to(target))
