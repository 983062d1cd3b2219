"""The committed protobuf stubs match proto/ (regenerate with scripts/gen_proto)."""

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_generated_stubs_are_current(tmp_path: Path) -> None:
    """Regenerating from the .proto yields byte-identical files."""
    subprocess.run(
        [str(ROOT / "scripts" / "gen_proto"), str(tmp_path)], check=True, capture_output=True
    )
    names = [
        f"{proto}_pb2{kind}{ext}"
        for proto in ("claims", "admin")
        for kind in ("", "_grpc")
        for ext in (".py", ".pyi")
    ]
    for name in names:
        generated = (tmp_path / "rx_gateway" / "v1" / name).read_text()
        committed = (ROOT / "src" / "rx_gateway" / "v1" / name).read_text()
        assert generated == committed, f"{name} is stale: run scripts/gen_proto"
