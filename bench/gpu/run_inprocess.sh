#!/usr/bin/env bash
# Issue 14 on the GPU machine, one call: the library's CUDA path loaded into a PyTorch process (inprocess.py):
# validation + timing of every op program against the PyTorch references, then (where compute-sanitizer exists)
# memcheck over a quick validation pass. Carry artifacts/gpu-harness (bench/gpu/publish.sh). Outputs in $OUT
# (default artifacts/gpu-inprocess). Time: at most LIMIT (240 s; the timing stops taking new rows at DEADLINE, 180 s)
# + MEMCHECK_LIMIT (120 s) = 6 minutes, plus nvidia-smi; validation.csv is written row by row, so a cut run keeps
# what it did. OPS=a,b restricts both passes to some ops (names: inprocess.py --help / the validation.csv op column).
# DEVICE=cpu runs the first pass on ILGPU's CPU simulator (a check of this script where there is no GPU; with QUICK=1).
set -u
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
out="${OUT:-$root/artifacts/gpu-inprocess}"
app="${APP:-$root/artifacts/gpu-harness/GpuKd.KernelBench.dll}"
mkdir -p "$out"
status=0
nvidia-smi > "$out/nvidia-smi.txt" 2>&1 || true
echo "== in-process validation and timing" | tee "$out/run.log"
timeout "${LIMIT:-240}" python3 bench/gpu/inprocess.py --app "$app" --out "$out" ${QUICK:+--quick} \
    --deadline-s "${DEADLINE:-180}" ${OPS:+--ops "$OPS"} ${DEVICE:+--device "$DEVICE"} 2>&1 | tee -a "$out/run.log"
rc=${PIPESTATUS[0]}; echo "== inprocess.py exit code $rc" | tee -a "$out/run.log"; [ "$rc" -eq 0 ] || status=1
sanitizer="$(command -v compute-sanitizer || ls -d /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | tail -1)"
if [ -n "$sanitizer" ]; then
    echo "== compute-sanitizer memcheck (quick validation)" | tee -a "$out/run.log"
    timeout "${MEMCHECK_LIMIT:-120}" "$sanitizer" --tool memcheck --print-limit 20 python3 bench/gpu/inprocess.py --app "$app" --out "$out/memcheck" \
        --quick --validate-only ${OPS:+--ops "$OPS"} \
        > "$out/memcheck.log" 2>&1
    echo "== memcheck exit code $? ($(grep -c 'Invalid\|ERROR SUMMARY' "$out/memcheck.log") report lines)" | tee -a "$out/run.log"
else
    echo "== compute-sanitizer not found: memcheck skipped" | tee -a "$out/run.log"
fi
exit $status
