"""The committed gRPC stubs must be what protoc makes of the committed .proto."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_stubs_match_proto(tmp_path):
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{ROOT / 'protos'}", f"--python_out={tmp_path}",
                    f"--pyi_out={tmp_path}", f"--grpc_python_out={tmp_path}",
                    str(ROOT / "protos/vigil/v1/vigil.proto")], check=True)
    for name in ("vigil_pb2.py", "vigil_pb2.pyi", "vigil_pb2_grpc.py"):
        fresh = (tmp_path / "vigil/v1" / name).read_text()
        committed = (ROOT / "vigil/v1" / name).read_text()
        assert fresh == committed, f"vigil/v1/{name} is stale: run `make protos`"
