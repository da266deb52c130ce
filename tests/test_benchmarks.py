"""The benchmark scripts run end to end (their figures are printed, never asserted: see the README)."""
import json

from conftest import run_script


def test_training_benchmark_runs_and_writes_json(tmp_path):
    out = tmp_path / "bench.json"
    result = run_script("scripts/benchmark_training.py", "--device", "cpu", "--images", "1024", "--epochs", "1",
                        "--models", "plain_cnn", "--workers", "0", "--json", str(out))
    figures = json.loads(out.read_text())
    assert figures["device"] == "cpu" and figures["seed_pipeline_images_per_s"] > 0
    plain = figures["models"]["plain_cnn"]
    assert plain["images_per_s"] > 0 and plain["achieved_flops"] > 0 and plain["fraction_of_bf16_peak"] is None
    assert figures["plain_cnn_speedup"] == plain["images_per_s"] / figures["seed_pipeline_images_per_s"]
    assert "PlainCNN speed-up" in result.stdout
