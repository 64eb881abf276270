#!/usr/bin/env bash
# Runs the GPU comparison on a CUDA machine that has PyTorch but no .NET: the published harness
# (bench/gpu/publish.sh, carried as artifacts/gpu-harness), the PyTorch references, ptxas -v over
# the harness's PTX, then prints one table (bench/gpu/merge.py). Everything goes to $OUT (or
# artifacts/gpu-run). A failing part is reported and the others still run. ~3–6 min on an H200.
# Environment: OUT, HARNESS (path of the published binary), SIZES (full|small), PTXAS (ptxas path).
set -u
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
out="${OUT:-$root/artifacts/gpu-run}"
mkdir -p "$out"
harness="${HARNESS:-$root/artifacts/gpu-harness/GpuKd.KernelBench}"
sizes="${SIZES:-full}"
say() { echo "== $*" | tee -a "$out/run.log"; }
status=0

say "device"
if command -v nvidia-smi >/dev/null; then
    nvidia-smi > "$out/nvidia-smi.txt" 2>&1
    nvidia-smi --query-gpu=name,clocks.max.sm,clocks.sm,driver_version,memory.total --format=csv,noheader,nounits \
        > "$out/gpu.csv" 2>>"$out/run.log"
    cat "$out/gpu.csv" | tee -a "$out/run.log"
else
    say "nvidia-smi not found"
fi

say "GpuKd harness ($harness, sizes $sizes)"
if [ -f "$harness" ]; then
    chmod +x "$harness" 2>/dev/null
    timeout 270 "$harness" --accelerator cuda --sizes "$sizes" --csv "$out/gpukd.csv" --ptx "$out/ptx" 2>&1 | tee "$out/gpukd.log"
    rc=${PIPESTATUS[0]}; say "harness exit code $rc"; [ "$rc" -eq 0 ] || status=1
else
    say "harness not found: run bench/gpu/publish.sh and carry artifacts/gpu-harness"; status=1
fi

say "PyTorch references"
timeout 200 python3 bench/gpu/reference.py --sizes "$sizes" --csv "$out/pytorch.csv" --device-json "$out/device.json" 2>&1 | tee "$out/pytorch.log"
rc=${PIPESTATUS[0]}; say "reference.py exit code $rc"; [ "$rc" -eq 0 ] || status=1

say "ptxas -v"
ptxas="${PTXAS:-}"
if [ -z "$ptxas" ]; then
    # PATH, CUDA toolkits, then the copies pip packages ship (Triton bundles one; nvidia-cuda-nvcc has one).
    ptxas="$(command -v ptxas 2>/dev/null || true)"
    [ -n "$ptxas" ] || ptxas="$(ls -d /usr/local/cuda*/bin/ptxas 2>/dev/null | sort -V | tail -1)"
    [ -n "$ptxas" ] || ptxas="$(python3 - <<'PY' 2>/dev/null
import glob, importlib.util, os
for mod, pats in (("triton", ("backends/nvidia/bin/ptxas", "third_party/cuda/bin/ptxas")), ("nvidia", ("cuda_nvcc/bin/ptxas",))):
    spec = importlib.util.find_spec(mod)
    for base in (spec.submodule_search_locations or []) if spec else []:
        for p in pats:
            for hit in glob.glob(os.path.join(base, p)):
                if os.access(hit, os.X_OK):
                    print(hit); raise SystemExit
PY
)"
fi
if [ -n "$ptxas" ] && [ -d "$out/ptx" ]; then
    arch="$(python3 -c "import json;c=json.load(open('$out/device.json'))['cc'];print('sm_%d%d'%tuple(c))" 2>/dev/null || echo sm_90)"
    say "$ptxas ($("$ptxas" --version 2>/dev/null | tail -1)), -arch=$arch"
    for f in "$out"/ptx/*.ptx; do
        timeout 30 "$ptxas" -arch="$arch" -v "$f" -o /dev/null > "${f%.ptx}.ptxas.txt" 2>&1 || echo "ptxas failed on $f" | tee -a "$out/run.log"
    done
else
    say "ptxas not found (set PTXAS) or no PTX written: register/shared-memory report skipped"
fi

say "summary"
python3 bench/gpu/merge.py --gpukd "$out/gpukd.csv" --pytorch "$out/pytorch.csv" --device-json "$out/device.json" \
    --smi "$out/gpu.csv" --ptxas-dir "$out/ptx" --gpukd-log "$out/gpukd.log" --out "$out/summary.md" || status=1
say "outputs in $out (exit $status)"
exit $status
