#!/usr/bin/env python3
"""PyTorch reference implementations of the ops GpuKd.KernelBench times, at the same sizes.

Each reference follows the published code as pinned in docs REFERENCE.md (RKD pdist and angle
from the authors' RKD code, SP, CC Taylor-RBF, IRG edge), in float32 on CUDA with TF32 off
(FP32 GEMMs, like the ILGPU kernels). Losses are timed forward (with autograd recording, as in
training) and forward + backward (student gradient only; the teacher side is computed without
gradient). Relation ops are timed forward only. Writes the CSV columns of the C# harness.

Usage: python3 reference.py [--sizes small|full] [--csv FILE] [--device-json FILE] [--budget-ms MS]
"""
import argparse
import json
import math
import sys
import time

CSV_HEADER = "impl,op,pass,b,d,ms_median,ms_min,reps,gflop,gflops,status,note"
OPS = ["gram", "cosine", "pdist", "triplet_angles", "rkd_distance", "rkd_angle", "sp", "cc", "irg_edge"]
LOSSES = {"rkd_distance", "rkd_angle", "sp", "cc", "irg_edge"}
MAX_BATCH = {"triplet_angles": 1024, "rkd_angle": 1024}
CC_GAMMA, CC_ORDER = 0.4, 2


def build(torch, F):
    """The reference functions, closed over the imported torch (so that this file compiles without it)."""

    def pdist(e, squared=False, eps=1e-12):
        # RKD authors' pdist: Gram form, clamp, sqrt, zero diagonal.
        e_square = e.pow(2).sum(dim=1)
        prod = e @ e.t()
        res = (e_square.unsqueeze(1) + e_square.unsqueeze(0) - 2 * prod).clamp(min=eps)
        if not squared:
            res = res.sqrt()
        res = res.clone()
        res[range(len(e)), range(len(e))] = 0
        return res

    def angles(e):
        # RKD angle: b×b×D differences, normalised, one batched product → b³ cosines.
        td = e.unsqueeze(0) - e.unsqueeze(1)
        norm_td = F.normalize(td, p=2, dim=2)
        return torch.bmm(norm_td, norm_td.transpose(1, 2)).view(-1)

    def rkd_distance(s, t):
        with torch.no_grad():
            t_d = pdist(t)
            t_d = t_d / t_d[t_d > 0].mean()
        d = pdist(s)
        d = d / d[d > 0].mean()
        return F.smooth_l1_loss(d, t_d, reduction="mean")

    def rkd_angle(s, t):
        with torch.no_grad():
            t_angle = angles(t)
        return F.smooth_l1_loss(angles(s), t_angle, reduction="mean")

    def sp(s, t):
        b = s.shape[0]
        g_s = F.normalize(s @ s.t())
        with torch.no_grad():
            g_t = F.normalize(t @ t.t())
        return ((g_t - g_s) ** 2).view(-1, 1).sum(0) / (b * b)

    def cc_matrix(x):
        a = F.normalize(x, p=2, dim=-1)
        sim = a @ a.t()
        corr = torch.zeros_like(sim)
        for p in range(CC_ORDER + 1):
            corr += math.exp(-2 * CC_GAMMA) * (2 * CC_GAMMA) ** p / math.factorial(p) * torch.pow(sim, p)
        return corr

    def cc(s, t):
        with torch.no_grad():
            c_t = cc_matrix(t)
        return F.mse_loss(cc_matrix(s), c_t)

    def edge(x):
        q = pdist(x, squared=True)
        return q / q.max()

    def irg_edge(s, t):
        with torch.no_grad():
            e_t = edge(t)
        return F.mse_loss(edge(s), e_t)

    def cosine(x):
        u = F.normalize(x, p=2, dim=1)
        return u @ u.t()

    return {
        "gram": lambda x, t: x @ x.t(),
        "cosine": lambda x, t: cosine(x),
        "pdist": lambda x, t: pdist(x),
        "triplet_angles": lambda x, t: angles(x),
        "rkd_distance": rkd_distance,
        "rkd_angle": rkd_angle,
        "sp": sp,
        "cc": cc,
        "irg_edge": irg_edge,
    }


def flops(op, b, d, backward):
    """The C# harness's FLOP model (bench/GpuKd.KernelBench/OpCatalog.cs), so GFLOP/s compare."""
    gram = 2.0 * b * b * d
    if op in ("gram", "cosine", "pdist"):
        return gram
    if op == "triplet_angles":
        return gram + 5.0 * b ** 3
    pair = 2 * gram + (gram if backward else 0)
    if op == "rkd_angle":
        return pair + (14.0 + (40.0 if backward else 0)) * b ** 3
    return pair


def peak_bytes_estimate(op, b, d, backward):
    """Rough reference footprint in bytes (float32), for the OOM message."""
    f = 4.0
    if op in ("triplet_angles", "rkd_angle"):
        n = (2 * b * b * d + b ** 3) * f
        return n * (3 if backward else 1)
    return (2 * b * d + 8 * b * b) * f * (2 if backward else 1)


def measure(torch, fn, warmup, min_reps, max_reps, budget_ms):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    start = time.perf_counter()
    while len(times) < max_reps and (len(times) < min_reps or (time.perf_counter() - start) * 1e3 < budget_ms):
        e0 = torch.cuda.Event(enable_timing=True)
        e1 = torch.cuda.Event(enable_timing=True)
        e0.record()
        fn()
        e1.record()
        e1.synchronize()
        times.append(e0.elapsed_time(e1))
    times.sort()
    n = len(times)
    median = times[n // 2] if n % 2 else 0.5 * (times[n // 2 - 1] + times[n // 2])
    return median, times[0], n


def is_oom(torch, e):
    oom = getattr(torch.cuda, "OutOfMemoryError", None)
    return (oom is not None and isinstance(e, oom)) or "out of memory" in str(e).lower()


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", choices=["small", "full"], default="full")
    ap.add_argument("--csv")
    ap.add_argument("--device-json")
    ap.add_argument("--budget-ms", type=float, default=1500)
    ap.add_argument("--ops", default=",".join(OPS))
    args = ap.parse_args(argv)

    import torch
    import torch.nn.functional as F

    if not torch.cuda.is_available():
        print("reference.py: CUDA is not available to PyTorch", file=sys.stderr)
        return 2
    torch.backends.cuda.matmul.allow_tf32 = False   # FP32 GEMMs, like the ILGPU kernels
    torch.backends.cudnn.allow_tf32 = False
    dev = torch.device("cuda")
    props = torch.cuda.get_device_properties(0)
    info = {"name": props.name, "sm_count": props.multi_processor_count, "cc": [props.major, props.minor],
            "memory_gib": props.total_memory / 2 ** 30, "torch": torch.__version__, "cuda": torch.version.cuda}
    print("PyTorch %s (CUDA %s) on %s: %d SMs, cc %d.%d, %.0f GiB; TF32 off" % (
        torch.__version__, torch.version.cuda, props.name, props.multi_processor_count, props.major, props.minor,
        info["memory_gib"]), flush=True)
    if args.device_json:
        with open(args.device_json, "w") as f:
            json.dump(info, f)

    refs = build(torch, F)
    batches = [256, 1024, 4096] if args.sizes == "full" else [16, 32]
    widths = [512, 2048] if args.sizes == "full" else [32]
    out = open(args.csv, "w") if args.csv else None
    if out:
        out.write(CSV_HEADER + "\n")
    print("%-15s %-8s %5s %5s %11s %9s %4s %9s" % ("op", "pass", "b", "D", "ms(median)", "ms(min)", "reps", "GFLOP/s"))
    gen = torch.Generator(device="cpu").manual_seed(0)
    for op in [o for o in args.ops.split(",") if o]:
        for b in [b for b in batches if b <= MAX_BATCH.get(op, 1 << 30)]:
            for d in widths:
                passes = ["fwd", "fwd+bwd"] if op in LOSSES else ["fwd"]
                s = t = None
                try:
                    s = torch.randn(b, d, generator=gen).to(dev)
                    t = torch.randn(b, d, generator=gen).to(dev)
                    for p in passes:
                        backward = p != "fwd"
                        x = s.clone().requires_grad_(op in LOSSES)
                        f = refs[op]
                        if backward:
                            def run():
                                x.grad = None
                                f(x, t).backward()
                        elif op in LOSSES:
                            def run():
                                f(x, t)
                        else:
                            def run():
                                with torch.no_grad():
                                    f(x, t)
                        median, mn, reps = measure(torch, run, 2, 3, 20, args.budget_ms)
                        gflop = flops(op, b, d, backward) / 1e9
                        row(out, op, p, b, d, median, mn, reps, gflop, "ok", "")
                except Exception as e:  # one failing size must not stop the sweep
                    oom = is_oom(torch, e)
                    why = ("OOM (needs ~%.0f GiB)" % (peak_bytes_estimate(op, b, d, True) / 2 ** 30)) if oom \
                        else ("%s: %s" % (type(e).__name__, str(e).splitlines()[0] if str(e) else ""))
                    for p in passes:
                        row(out, op, p, b, d, float("nan"), float("nan"), 0, flops(op, b, d, p != "fwd") / 1e9,
                            "oom" if oom else "error", why.replace(",", ";"))
                finally:
                    s = t = None
                    torch.cuda.empty_cache()
    if out:
        out.close()
    return 0


def row(out, op, p, b, d, median, mn, reps, gflop, status, note):
    ok = status == "ok"
    gflops = gflop / (median / 1e3) if ok and median > 0 else float("nan")
    if ok:
        print("%-15s %-8s %5d %5d %11.3f %9.3f %4d %9.1f" % (op, p, b, d, median, mn, reps, gflops), flush=True)
    else:
        print("%-15s %-8s %5d %5d %s: %s" % (op, p, b, d, status, note), flush=True)
    if out:
        g = lambda v: "" if v != v else "%.6g" % v
        out.write(",".join(["pytorch", op, p, str(b), str(d), g(median), g(mn), str(reps), g(gflop), g(gflops),
                            status, note]) + "\n")
        out.flush()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
