"""bench/device_check.py's CPU smoke run (issue 19): it runs in the suite, so it cannot rot."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import yaml
from conftest import ROOT

from upnn import rates as upnn_rates


def test_device_check_quick_on_cpu_writes_rates_and_summary(tmp_path):
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, str(ROOT / "bench/device_check.py"), "--device", "cpu",
                           "--quick", "--out", str(tmp_path)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # 14 s on the 2-core machine at load 3; the timeout above only catches a hang (load 10: 150 s)
    print(f"device_check --quick: {time.monotonic() - t0:.0f} s")
    rates = upnn_rates.load_rates(tmp_path / "rates.yaml")  # the planner reads what it writes
    assert rates["status"] == "measured" and rates["gpus"] == 0
    paper = yaml.safe_load((ROOT / "config/paper.yaml").read_text())
    nets = {m for ms in paper["experiments"].values() for m in ms}
    for kind in ("train", "attack", "eval"):
        assert set(rates["flops_per_s"][kind]) == nets | {"default"}
        assert all(v > 0 for v in rates["flops_per_s"][kind].values())
    summary = json.loads((tmp_path / "device_check.json").read_text())
    assert summary["device"] == "cpu" and summary["precisions"] == ["fp32"]
    assert len(summary["throughput"]) == 6  # 3 nets x 2 image shapes of the paper config
    check = summary["precision_check"]
    assert check["max_abs_diff_points"] == {"attacks": 0.0, "training": 0.0}  # bf16 ignored on CPU
    assert check["bf16_ok_attacks"] is False and "CPU" in check["note"]
    metrics = {r["metric"] for r in check["rows"]}
    assert metrics == {"TA", "RA fgsm", "RA bim", "RA pgd"}
