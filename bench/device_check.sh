#!/usr/bin/env bash
# The prepared device check (issue 19, docs/gpu.md). On a CUDA machine without network, from a copy
# of the working tree plus the carried wheels, in well under 8 minutes:
#
#   bash bench/device_check.sh [OUT]       # OUT: $OUT if set, else results/device_check
#   (on a CPU, as a smoke run: DEVICE=cpu QUICK=1 NO_WHEELS=1 PYTHON=.venv/bin/python bash ...)
#
#   1. installs the carried wheels (.whl/*.whl: what such a machine lacks) into /tmp/upnn-site
#   2. the CUDA tests: pytest -k cuda (tests/test_precision.py, tests/test_packets.py, ...)
#   3. bench/device_check.py --device cuda: each net of config/paper.yaml at full width on the
#      shipped Fashion-MNIST images, fp32 vs bf16, the bf16 TA/RA differences, torchattacks' PGD
#      -> OUT/rates.yaml, OUT/device_check.json
#   4. bench/batched_checkpoints.py: vmapped checkpoints of cnn3/cnn4 against a loop
#      -> OUT/batched_checkpoints.txt
#   5. the planner's estimate of config/paper.yaml with those rates -> OUT/plan_paper.md (where
#      Snakemake is installed: the planner reads its dry run)
#
# Before, here (pip and a package index at hand), once: bash bench/device_check.sh --fetch-wheels
# (downloads ~2 MB of wheels into .whl/, ignored by git through .git/info/exclude); then carry
# .whl with the run. Afterwards: copy OUT/rates.yaml to config/rates/gpu-h100.yaml (or a new
# file), commit it, and put OUT/plan_paper.md's totals in docs/gpu.md and the README.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [[ "${1:-}" == "--fetch-wheels" ]]; then
  grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >>.git/info/exclude
  # the device image has torch, numpy, scipy, pandas, pyarrow, pyyaml, tqdm, requests, attrs,
  # pytest; upnn.config needs jsonschema, the PGD ratio torchattacks (pure Python, --no-deps)
  "$PY" -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform manylinux_2_28_x86_64 -d .whl \
    torchattacks==3.5.1 jsonschema==4.26.0 jsonschema-specifications==2025.9.1 \
    referencing==0.37.0 rpds-py==2026.9.1
  ls -la .whl
  exit 0
fi
OUT_DIR=${1:-${OUT:-results/device_check}}
mkdir -p "$OUT_DIR"
export PYTHONUNBUFFERED=1
if [[ -z "${NO_WHEELS:-}" ]] && compgen -G ".whl/*.whl" >/dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/upnn-site .whl/*.whl
  export PYTHONPATH=/tmp/upnn-site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH}
start=$(date +%s)
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(),
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')" | tee "$OUT_DIR/log.txt"
# 2. CUDA tests (skipped ones say why); a failure is reported, the measurements still run
set +e
timeout 180 "$PY" -m pytest -q -p no:cacheprovider -rs -k cuda tests/test_precision.py \
  tests/test_packets.py tests/test_device.py 2>&1 | tail -15 | tee -a "$OUT_DIR/log.txt"
tests_rc=${PIPESTATUS[0]}
set -e
# 3. throughput, precision check, rates (paper nets at full width)
timeout 330 "$PY" bench/device_check.py --device "${DEVICE:-cuda}" --out "$OUT_DIR" \
  --configfile config/paper.yaml ${QUICK:+--quick} 2>&1 | tee -a "$OUT_DIR/log.txt"
# 4. several checkpoints of a small net in one vmapped call against one call each (issue 26)
timeout 120 "$PY" bench/batched_checkpoints.py --device "${DEVICE:-cuda}" 2>&1 |
  tee "$OUT_DIR/batched_checkpoints.txt" | tee -a "$OUT_DIR/log.txt" || true
# 5. the paper config's estimate on the measured rates (the planner reads Snakemake's DAG: where
#    Snakemake is not installed, run it afterwards on a machine that has it)
if "$PY" -c "import snakemake" 2>/dev/null; then
  "$PY" -m upnn.plan --configfile config/paper.yaml --rates "$OUT_DIR/rates.yaml" \
    >"$OUT_DIR/plan_paper.md"
  tail -3 "$OUT_DIR/plan_paper.md" | tee -a "$OUT_DIR/log.txt"
else
  echo "no snakemake here: run upnn plan --configfile config/paper.yaml --rates $OUT_DIR/rates.yaml" \
    "where it is installed" | tee -a "$OUT_DIR/log.txt"
fi
echo "CUDA tests rc=$tests_rc; device check done in $(($(date +%s) - start)) s -> $OUT_DIR" |
  tee -a "$OUT_DIR/log.txt"
exit "$tests_rc"
