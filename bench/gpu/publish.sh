#!/usr/bin/env bash
# Publishes the GPU harness (bench/GpuKd.KernelBench) self-contained and trimmed for linux-x64
# into artifacts/gpu-harness/, so that it runs on a GPU machine without a .NET SDK, and checks
# that it fits the 64 MiB a device run can carry. Usage: bench/gpu/publish.sh [OUT_DIR]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="${1:-$root/artifacts/gpu-harness}"
rm -rf "$out"
dotnet publish "$root/bench/GpuKd.KernelBench/GpuKd.KernelBench.csproj" -c Release --nologo \
    -p:GpuHarnessPublish=true -o "$out"
rm -f "$out"/*.pdb "$out"/*.xml   # symbols and API docs: never loaded
bytes=$(du -sb "$out" | cut -f1)
limit=$((64 * 1024 * 1024))
printf 'published %s: %d files, %.1f MiB (limit 64 MiB)\n' "$out" "$(ls "$out" | wc -l)" "$(awk "BEGIN{print $bytes/1048576}")"
if [ "$bytes" -gt "$limit" ]; then echo "too large to carry to the GPU machine" >&2; exit 1; fi
