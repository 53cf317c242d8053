"""Regenerate the protobuf and gRPC stubs (with typed .pyi) into client/.

The stubs are committed so that `pip install ./client` needs no protoc; CI runs
`python scripts/gen_protos.py --check` to fail when they are stale.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos"
OUT_ROOT = ROOT / "client"
GENERATED_DIR = Path("dbd") / "playerstats" / "v1"


def generate(out: Path) -> None:
    protos = sorted(str(p.relative_to(PROTO_ROOT)) for p in (PROTO_ROOT / GENERATED_DIR).glob("*.proto"))
    cmd = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        f"--mypy_out={out}",
        f"--mypy_grpc_out={out}",
        *protos,
    ]
    subprocess.run(cmd, check=True, cwd=PROTO_ROOT)
    # Package markers: dbd and dbd.playerstats stay namespace packages so other
    # distributions may add siblings; v1 is a regular package with py.typed.
    v1 = out / GENERATED_DIR
    (v1 / "__init__.py").write_text('"""Generated from protos/dbd/playerstats/v1 (scripts/gen_protos.py)."""\n')
    (v1 / "py.typed").write_text("")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if the committed stubs are stale")
    args = parser.parse_args()
    if not args.check:
        shutil.rmtree(OUT_ROOT / GENERATED_DIR, ignore_errors=True)
        (OUT_ROOT / GENERATED_DIR).mkdir(parents=True)
        generate(OUT_ROOT)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp)
        (fresh / GENERATED_DIR).mkdir(parents=True)
        generate(fresh)
        cmp = filecmp.dircmp(fresh / GENERATED_DIR, OUT_ROOT / GENERATED_DIR, ignore=["__pycache__"])
        stale = cmp.diff_files + cmp.left_only + cmp.right_only
        if stale:
            print(f"stale generated stubs: {', '.join(sorted(stale))}; run python scripts/gen_protos.py")
            return 1
    print("generated stubs are fresh")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
