#!/usr/bin/env python3
"""Same-run A/B of the RKD angle loss (forward + backward, float32, CPU path) between two builds of GpuKd.Bench.

Alternates children of `GpuKd.Bench.dll --peak-one rkd-angle gpukd b D` (libtorch on 1 thread) from two builds and
prints, per size, the medians of the children's call time (their own median of 3 calls) and of each child's total CPU
time (start-up included; robust to a loaded machine's descheduling, which wall time is not).

  # build the old commit's bench elsewhere (git archive OLD | tar -x -C /tmp/old; dotnet build -c Release there), then
  python3 bench/angle_ab.py /tmp/old/bench/GpuKd.Bench/bin/Release/net10.0/GpuKd.Bench.dll \\
      bench/GpuKd.Bench/bin/Release/net10.0/GpuKd.Bench.dll 9 64x128 256x512 512x64
"""
import os, resource, statistics, subprocess, sys

def main():
    old, new, reps, sizes = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
    env = dict(os.environ, GPUKD_BENCH_THREADS=os.environ.get("GPUKD_BENCH_THREADS", "1"))
    for size in sizes:
        b, d = size.split("x")
        cpu, wall = {"old": [], "new": []}, {"old": [], "new": []}
        for _ in range(reps):
            for side, dll in (("old", old), ("new", new)):
                r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
                out = subprocess.run(["dotnet", dll, "--peak-one", "rkd-angle", "gpukd", b, d], env=env,
                                     capture_output=True, text=True, check=True).stdout
                r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu[side].append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
                wall[side].append(float(next(l for l in out.splitlines() if l.startswith("RESULT")).split()[1]))
        co, cn = statistics.median(cpu["old"]), statistics.median(cpu["new"])
        wo, wn = statistics.median(wall["old"]), statistics.median(wall["new"])
        print(f"{b}x{d}: call ms old {wo:.2f} new {wn:.2f} (new/old {wn / wo:.3f}) | child CPU s old {co:.3f} "
              f"new {cn:.3f} (new/old {cn / co:.3f})", flush=True)

if __name__ == "__main__":
    main()
