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
    for precision in ("fp32", "bf16"):  # --precision both is the default: each measured in this one run
        measured = plain[precision]
        assert measured["images_per_s"] > 0 and measured["achieved_flops"] > 0
        assert measured["fraction_of_bf16_peak"] is None
    assert plain["bf16_over_fp32"] == plain["bf16"]["images_per_s"] / plain["fp32"]["images_per_s"]
    default = plain[figures["default_precision"]]
    assert figures["plain_cnn_speedup"] == default["images_per_s"] / figures["seed_pipeline_images_per_s"]
    assert "PlainCNN speed-up" in result.stdout and "bf16 / fp32 images/s" in result.stdout
