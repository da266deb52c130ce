"""The benchmark scripts run end to end (their figures are printed, never asserted: see the README)."""
import json
import re
from pathlib import Path

from conftest import REPO
from dashboard import navigation


def test_training_benchmark_runs_and_writes_json(run_script, tmp_path):
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
    # the step modes in the same run: on a CPU only eager runs, the others are skipped saying why
    on_cpu = "needs CUDA (this run is on cpu)"
    assert figures["skipped_modes"] == {"compiled": on_cpu, "graphed": on_cpu}
    modes = plain["modes"]
    assert list(modes) == ["eager"] and modes["eager"]["ran_as"] == "eager"
    assert modes["eager"]["images_per_s"] == plain[figures["mode_precision"]]["images_per_s"]
    assert modes["eager"]["over_seed_pipeline"] == modes["eager"]["images_per_s"] / figures["seed_pipeline_images_per_s"]
    assert figures["fastest_step_mode"] == {"plain_cnn": "eager"}
    assert 'FASTEST_STEP_MODE = {"plain_cnn": "eager"}  # measured on cpu' in result.stdout
    assert f"graphed skipped: it {on_cpu}" in result.stdout

    refused = run_script("scripts/benchmark_training.py", "--modes", "eager,fast", check=False)
    assert refused.returncode == 2 and "--modes takes eager, compiled, graphed, not fast" in refused.stderr


def test_upload_benchmark_measures_a_large_sixteen_bit_png(run_script):
    result = run_script("scripts/benchmark_uploads.py", "--side", "1500")
    figures = json.loads(result.stdout.splitlines()[-1])
    assert figures["mode"] == "I;16" and figures["decoded_bytes"] == 1500 * 1500 * 2
    assert figures["seconds"] > 0 and figures["added_over_decoded"] == figures["added_bytes"] / figures["decoded_bytes"]
    assert "1500x1500 16-bit PNG" in result.stdout and "prepare_upload added" in result.stdout


def busy_loops() -> list[str]:
    """The processes running benchmark_explain.py's busy loop, by pid."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if b"while True: pass" in cmdline.read_bytes():
                found.append(cmdline.parent.name)
        except OSError:  # the process ended while being listed
            pass
    return found


def test_explain_benchmark_measures_idle_and_with_one_core_busy(run_script, cifar, untrained_checkpoints):
    result = run_script("scripts/benchmark_explain.py", "--checkpoints", str(untrained_checkpoints), "--repeats", "1")
    panel = re.findall(r"^  (idle|one core busy) +(\d+\.\d+) s  (within target|OVER TARGET)$", result.stdout, re.M)
    assert [condition for condition, _, _ in panel] == ["idle", "one core busy"], result.stdout
    assert all(float(seconds) > 0 for _, seconds, _ in panel)
    assert re.search(r"^ +layer +idle +one core busy$", result.stdout, re.M), "feature maps both ways too"
    assert busy_loops() == [], "the busy loop is stopped when the script ends"

    refused = run_script("scripts/benchmark_explain.py", "--repeats", "0", check=False)
    assert refused.returncode == 2 and "--repeats must be at least 1" in refused.stderr


def test_dashboard_benchmark_times_every_page_and_explain_from_click_to_last_map(run_script, cifar):
    """One visit each: the figures are there and positive, both Explain flows both ways, the first load, and the busy
    loop gone (the timings themselves are the benchmark's to judge, not a test's)."""
    result = run_script("scripts/benchmark_dashboard.py", "--checkpoints", str(REPO / "checkpoints"), "--repeats", "1")
    pages = re.findall(r"^(\w+) +(\d+\.\d+) +(\d+\.\d+) +(\d+\.\d+)$", result.stdout, re.M)
    assert [page for page, *_ in pages] == [navigation.url_path(page) or "home"
                                            for page in navigation.available_pages()], result.stdout
    explain = re.findall(r"^(Explain on \w+) +(\d+\.\d+) +(\d+\.\d+)$", result.stdout, re.M)
    assert [flow for flow, *_ in explain] == ["Explain on Attribution", "Explain on Predict"], result.stdout
    assert all(float(seconds) > 0 for row in pages + explain for seconds in row[1:])
    assert re.search(r"^first page load, from starting `streamlit run`: the navigation shown at \d+\.\d s, Home drawn "
                     r"at \d+\.\d s$", result.stdout, re.M)
    assert busy_loops() == [], "the busy loop is stopped when the script ends"
