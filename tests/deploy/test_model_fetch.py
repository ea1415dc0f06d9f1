"""The model download before the cloud starts (cloud/fetch_model.py): what counts as a hub id, the
progress lines a container log shows, and which starts download at all. No network: the hub call is
replaced by a stand-in that drives the progress bar as huggingface_hub does."""
import pytest

from cloud import fetch_model as fetch


@pytest.mark.parametrize("model,expected", [
    ("Qwen/Qwen2.5-VL-3B-Instruct", "Qwen/Qwen2.5-VL-3B-Instruct"),
    ("llava-hf/llava-1.5-7b-hf", "llava-hf/llava-1.5-7b-hf"),
    (None, None), ("", None), ("tiny:qwen2_5_vl", None), ("smollm_llava", None), ("vigil-bench-vlm", None),
    ("/models/my-checkpoint", None), ("./ckpt", None), ("a/b/c", None),
])
def test_hub_ids_are_told_from_paths_and_built_in_names(model, expected):
    assert fetch.hub_model(model) == expected


def test_an_existing_local_directory_is_never_downloaded(tmp_path):
    (tmp_path / "org").mkdir()
    (tmp_path / "org" / "model").mkdir()
    import os
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert fetch.hub_model("org/model") is None
    finally:
        os.chdir(cwd)


def test_progress_text():
    assert fetch.describe(1.2e9, 7.5e9, 30) == "1.20 of 7.50 GB (16%), 40.0 MB/s, about 3 min left"
    assert fetch.describe(7.4e9, 7.5e9, 185) == "7.40 of 7.50 GB (99%), 40.0 MB/s, about 2 s left"
    assert fetch.describe(2e8, None, 10) == "0.20 GB, 20.0 MB/s"


def test_progress_is_whole_lines_every_few_seconds_and_at_the_end(capsys, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(fetch.time, "monotonic", lambda: clock[0])
    bar = fetch.LogProgress(total=0, unit="B", unit_scale=True, desc="Downloading bytes", name="hub-internal")
    bar.total = 4_000_000_000
    for _ in range(40):                 # 100 MB per second of (fake) time
        clock[0] += 1
        bar.update(100_000_000)
    bar.close()
    lines = capsys.readouterr().err.splitlines()
    assert all(line.startswith("vigil-cloud: model download: Downloading bytes: ") for line in lines)
    assert 3 <= len(lines) <= 6                                       # every REPORT_EVERY_S, not every update
    assert "4.00 of 4.00 GB (100%)" in lines[-1]
    assert "\r" not in "".join(lines)


def test_only_processes_that_load_a_model_download(monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(fetch, "download", lambda repo: calls.append(repo) or "/models/hf/snap")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("VIGIL_CLOUD__ENGINE__MODEL", "Qwen/Qwen2.5-VL-3B-Instruct")
    assert fetch.main(["--role", "gateway"]) == 0 and fetch.main(["--role", "delivery"]) == 0 and calls == []
    assert fetch.main(["--role", "worker"]) == 0 and calls == ["Qwen/Qwen2.5-VL-3B-Instruct"]
    assert fetch.main(["--model", "tiny:qwen2_5_vl"]) == 0 and len(calls) == 1
    assert fetch.main(["--model", "org/other", "--help"]) == 0 and calls[-1] == "org/other"   # --help is vigil-cloud's
    assert "model Qwen/Qwen2.5-VL-3B-Instruct ready in /models/hf/snap" in capsys.readouterr().err
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert fetch.main([]) == 0 and len(calls) == 2                   # offline: the loader reports what is missing


def test_a_failed_download_is_one_line_and_exit_1(monkeypatch, capsys):
    def fail(repo):
        raise OSError("Connection refused\nlong details")
    monkeypatch.setattr(fetch, "download", fail)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    assert fetch.main(["--model", "Qwen/Qwen2.5-VL-3B-Instruct"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("vigil-cloud: cannot download model 'Qwen/Qwen2.5-VL-3B-Instruct': Connection refused")
    assert "Traceback" not in "\n".join(err)


def test_a_configuration_vigil_cloud_refuses_is_left_to_it(monkeypatch, tmp_path):
    bad = tmp_path / "cloud.yaml"
    bad.write_text("engine: {model: Qwen/Qwen2.5-VL-3B-Instruct, no_such_key: 1}\n")
    monkeypatch.setattr(fetch, "download", lambda repo: pytest.fail("downloaded for a config that is refused"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    assert fetch.main(["--config", str(bad)]) == 0


def test_pickled_weights_are_skipped_only_where_safetensors_exist():
    qwen = ["config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "tokenizer.json"]
    old = ["config.json", "pytorch_model.bin", "tokenizer.model"]
    assert "*.bin" in fetch.skipped_files(qwen) and "*.bin" not in fetch.skipped_files(old)
    assert "*.gguf" in fetch.skipped_files(old)
