#!/usr/bin/env python3
"""Issue 14 on the GPU machine: the library's CUDA path validated and timed *inside a PyTorch process*.

PyTorch allocates every tensor, owns the primary context and the stream; the .NET launch layer (the published
harness, bench/gpu/publish.sh) is loaded into this process through hostfxr (hostfxr_loader.py) and its op programs
are called with tensor.data_ptr()s and torch.cuda.current_stream().cuda_stream (gpukd_inprocess.py). Temporaries
come from PyTorch's caching allocator through a callback, so torch.cuda.max_memory_allocated sees both sides.

  python3 bench/gpu/inprocess.py --app artifacts/gpu-harness/GpuKd.KernelBench.dll --out OUT [--quick]

Writes OUT/validation.csv, OUT/timing.csv, OUT/summary.md (with the line "validation: N passed, M failed") and
prints the summary. Ops covered: those that run as programs (gram, cosine, pdist, triplet angles, RKD distance and
angle losses); the others join as they become programs.
"""
import argparse
import ctypes
import math
import os
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpukd_inprocess import Programs  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--app", default="artifacts/gpu-harness/GpuKd.KernelBench.dll")
    ap.add_argument("--out", default="artifacts/gpu-inprocess")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--budget-ms", type=float, default=400)
    ap.add_argument("--validate-only", action="store_true")
    o = ap.parse_args()
    os.makedirs(o.out, exist_ok=True)
    import torch
    import torch.nn.functional as F
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = torch.device("cuda")
    torch.cuda.init()
    p = Programs(o.app, mode="cuda", ordinal=torch.cuda.current_device())

    pool = {}

    def alloc(nbytes, stream):
        t = torch.empty(max(int(nbytes), 1), dtype=torch.uint8, device=dev)
        pool[t.data_ptr()] = t
        return t.data_ptr()

    def free(ptr):
        pool.pop(ptr, None)   # back to the caching allocator, ordered on the current stream

    p.set_allocator(alloc, free)
    dt_name = {torch.float32: "float32", torch.float64: "float64"}

    def B(t):
        assert t.is_contiguous() and t.is_cuda
        return (t.data_ptr(), t.numel())

    def stream():
        return torch.cuda.current_stream().cuda_stream

    def call(op, phase, dtype, bufs, ints):
        p.call(op, phase, dt_name[dtype], {k: B(v) for k, v in bufs.items()}, ints, stream())

    # ── the ops as autograd functions over the programs ──────────────────────────────────────────────────────
    def empty(*shape, like):
        return torch.empty(*shape, dtype=like.dtype, device=like.device)

    class Gram(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            x = x.contiguous(); b, d = x.shape
            g = empty(b, b, like=x)
            call("gram", "forward", x.dtype, {"x": x, "g": g, "norms": empty(b, like=x), "result": g}, {"b": b, "d": d, "normalize": 0})
            ctx.save_for_backward(x, g)
            return g

        @staticmethod
        def backward(ctx, gbar):
            x, g = ctx.saved_tensors; b, d = x.shape
            xbar = empty(b, d, like=x)
            call("gram", "backward", x.dtype, {"gbar": gbar.contiguous(), "x": x, "result": g, "norms": empty(b, like=x), "xbar": xbar}, {"b": b, "d": d, "normalize": 0})
            return xbar

    class Cosine(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            x = x.contiguous(); b, c = x.shape
            norms, unit, a = empty(b, like=x), empty(b, c, like=x), empty(b, b, like=x)
            call("cosine", "forward", x.dtype, {"x": x, "norms": norms, "unit": unit, "a": a}, {"batch": 1, "n": b, "c": c})
            ctx.save_for_backward(unit, norms)
            return a

        @staticmethod
        def backward(ctx, abar):
            unit, norms = ctx.saved_tensors; b, c = unit.shape
            xbar = empty(b, c, like=unit)
            call("cosine", "backward", unit.dtype, {"abar": abar.contiguous(), "unit": unit, "norms": norms, "xbar": xbar}, {"batch": 1, "n": b, "c": c})
            return xbar

    class Pdist(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            x = x.contiguous(); b, d = x.shape
            xc, dist = empty(b, d, like=x), empty(b, b, like=x)
            call("pdist", "forward", x.dtype, {"x": x, "xc": xc, "dist": dist}, {"b": b, "d": d, "squared": 0})
            ctx.save_for_backward(xc, dist)
            return dist

        @staticmethod
        def backward(ctx, dbar):
            xc, dist = ctx.saved_tensors; b, d = xc.shape
            xbar = empty(b, d, like=xc)
            call("pdist", "backward", xc.dtype, {"dbar": dbar.contiguous(), "xc": xc, "dist": dist, "xbar": xbar}, {"b": b, "d": d, "squared": 0})
            return xbar

    class Angles(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            x = x.contiguous(); b, d = x.shape
            xc, g, inv, ginv, ang = empty(b, d, like=x), empty(b, b, like=x), empty(b, b, like=x), empty(b, b, like=x), empty(b * b * b, like=x)
            call("triplet_angles", "forward", x.dtype, {"x": x, "xc": xc, "g": g, "inv": inv, "ginv": ginv, "angles": ang}, {"b": b, "d": d})
            ctx.save_for_backward(xc, g, inv, ginv)
            return ang

        @staticmethod
        def backward(ctx, rbar):
            xc, g, inv, ginv = ctx.saved_tensors; b, d = xc.shape
            xbar = empty(b, d, like=xc)
            call("triplet_angles", "backward", xc.dtype, {"rbar": rbar.contiguous(), "xc": xc, "g": g, "inv": inv, "ginv": ginv, "xbar": xbar}, {"b": b, "d": d})
            return xbar

    def rkd_loss(kind):
        names = ["xc", "dist", "invmu"] if kind == "rkd_distance" else ["xc", "g", "inv", "ginv"]

        def side(x):
            b, d = x.shape
            shapes = {"xc": (b, d), "dist": (b, b), "invmu": (1,), "g": (b, b), "inv": (b, b), "ginv": (b, b)}
            wide = {"dist", "invmu"}   # the RKD distance epilogue's tables are float64 for either dtype
            return [torch.empty(*shapes[n], dtype=torch.float64, device=x.device) if n in wide else empty(*shapes[n], like=x) for n in names]

        class Loss(torch.autograd.Function):
            @staticmethod
            def forward(ctx, s, t):
                s, t = s.contiguous(), t.contiguous()
                b = s.shape[0]
                ss, ts, loss = side(s), side(t), empty((), like=s)
                bufs = {"xs": s, "xt": t, "loss": loss}
                bufs.update({f"s_{n}": v for n, v in zip(names, ss)})
                bufs.update({f"t_{n}": v for n, v in zip(names, ts)})
                call(kind, "forward", s.dtype, bufs, {"b": b, "ds": s.shape[1], "dt": t.shape[1], "mean": 1})
                ctx.save_for_backward(*ss, *ts)
                return loss

            @staticmethod
            def backward(ctx, up):
                saved = ctx.saved_tensors; k = len(names)
                ss, ts = saved[:k], saved[k:]
                b, d = ss[0].shape
                xbar = empty(b, d, like=ss[0])
                bufs = {"upstream": up.reshape(1).contiguous(), "xbar": xbar}
                bufs.update({f"self_{n}": v for n, v in zip(names, ss)})
                bufs.update({f"other_{n}": v for n, v in zip(names, ts)})
                call(kind, "backward", ss[0].dtype, bufs, {"b": b, "dim": d, "mean": 1})
                return xbar, None

        return Loss.apply

    ours = {
        "gram": lambda x, t: Gram.apply(x), "cosine": lambda x, t: Cosine.apply(x), "pdist": lambda x, t: Pdist.apply(x),
        "triplet_angles": lambda x, t: Angles.apply(x), "rkd_distance": rkd_loss("rkd_distance"), "rkd_angle": rkd_loss("rkd_angle"),
    }

    # ── the references (the published compositions; the angle gradient with the self-legs masked, DESIGN notes) ─
    def pdist_ref(e, eps=1e-12):
        sq = e.pow(2).sum(1)
        res = (sq.unsqueeze(1) + sq.unsqueeze(0) - 2 * e @ e.t()).clamp(min=eps).sqrt().clone()
        res[range(len(e)), range(len(e))] = 0
        return res

    def angles_ref(e):
        b = e.shape[0]
        td = e.unsqueeze(0) - e.unsqueeze(1)
        mask = (1 - torch.eye(b, dtype=e.dtype, device=e.device)).unsqueeze(-1)
        n = F.normalize(td, p=2, dim=2) * mask
        return torch.bmm(n, n.transpose(1, 2)).reshape(-1)

    def rkd_distance_ref(s, t):
        with torch.no_grad():
            td = pdist_ref(t); td = td / td[td > 0].mean()
        d = pdist_ref(s); d = d / d[d > 0].mean()
        return F.smooth_l1_loss(d, td)

    def rkd_angle_ref(s, t):
        with torch.no_grad():
            ta = angles_ref(t)
        return F.smooth_l1_loss(angles_ref(s), ta)

    refs = {
        "gram": lambda x, t: x @ x.t(), "cosine": lambda x, t: F.normalize(x, dim=1, eps=1e-12) @ F.normalize(x, dim=1, eps=1e-12).t(),
        "pdist": lambda x, t: pdist_ref(x), "triplet_angles": lambda x, t: angles_ref(x),
        "rkd_distance": rkd_distance_ref, "rkd_angle": rkd_angle_ref,
    }

    # ── validation ────────────────────────────────────────────────────────────────────────────────────────────
    rows, passed, failed = [], 0, 0

    def record(op, case, dtype, ok, err_v, err_g, note=""):
        nonlocal passed, failed
        passed += bool(ok); failed += not ok
        rows.append(f"{op},{case},{dtype},{'PASS' if ok else 'FAIL'},{err_v:.3e},{err_g:.3e},{note}")
        if not ok:
            print(f"  FAIL {op} {case} {dtype}: value {err_v:.2e} grad {err_g:.2e} {note}", flush=True)

    def rel(a, b):
        scale = b.abs().max().item()
        return (a - b).abs().max().item() / (scale if scale > 0 else 1.0)

    def compare(op, x, t, dtype, case):
        """Value and student gradient against the float64 reference on the same (rounded) inputs."""
        try:
            xs = x.to(dtype).detach().requires_grad_(); ts = t.to(dtype)
            y = ours[op](xs, ts)
            w = torch.randn_like(y.double()).to(dtype) if y.dim() > 0 else torch.ones((), dtype=dtype, device=dev)
            (gx,) = torch.autograd.grad((y * w).sum(), xs)
            xr = xs.detach().double().requires_grad_()
            yr = refs[op](xr, ts.double())
            (gr,) = torch.autograd.grad((yr * w.double()).sum(), xr)
            ev, eg = rel(y.double(), yr), rel(gx.double(), gr)
            bar = 1e-10 if dtype == torch.float64 else 1e-4
            record(op, case, dt_name[dtype], math.isfinite(ev) and math.isfinite(eg) and ev <= bar and eg <= bar, ev, eg)
        except Exception as e:   # noqa: BLE001 - a failing case is recorded, the run goes on
            record(op, case, dt_name[dtype], False, float("nan"), float("nan"), repr(e)[:120].replace(",", ";"))

    gen = torch.Generator(device=dev).manual_seed(0)

    def randn(*shape):
        return torch.randn(*shape, generator=gen, device=dev, dtype=torch.float64)

    sizes_b = [1, 2, 3, 33, 257] if not o.quick else [2, 33]
    sizes_d = [1, 5, 129] if not o.quick else [5]
    for op in ours:
        for b in sizes_b:
            if op == "rkd_distance" and b < 2:
                continue
            if op in ("triplet_angles", "rkd_angle") and b > 129:
                continue
            for d in sizes_d:
                x, t = randn(b, d), randn(b, d + 3)
                for dtype in (torch.float32, torch.float64):
                    compare(op, x, t, dtype, f"b{b}_d{d}")
        b, d = 17, 9
        dup = randn(b, d); dup[5] = dup[2]
        zero = randn(b, d); zero[4] = 0
        t = randn(b, d + 2)
        near = t[:, :d] + 0.01 * randn(b, d)
        for case, x in (("duplicate_rows", dup), ("zero_row", zero), ("student_near_teacher", near)):
            compare(op, x, t[:, :d] if case == "student_near_teacher" else t, torch.float64, case)
            compare(op, x, t[:, :d] if case == "student_near_teacher" else t, torch.float32, case)
        # strided input (a transposed view): made contiguous on the device first
        xt_ = randn(d, b).t()
        compare(op, xt_, t, torch.float32, "strided_input")

    # stream ordering: work queued before and after on a non-default stream
    s2 = torch.cuda.Stream()
    for op in ours:
        x, t = randn(33, 20).float(), randn(33, 12).float()
        ref = ours[op](x, t).clone()
        with torch.cuda.stream(s2):
            x2 = torch.zeros_like(x); torch.cuda._sleep(2_000_000)   # a long kernel queued first
            x2.copy_(x)                                                 # the input only exists after it
            y = ours[op](x2, t.clone())
            y2 = y * 1                                                  # work queued after reads the result
        s2.synchronize()
        ok = torch.equal(y2, ref)
        record(op, "stream_ordering", "float32", ok, 0.0 if ok else (y2 - ref).abs().max().item(), 0.0)
    # bit-identical repeats
    for op in ours:
        x, t = randn(65, 40).float(), randn(65, 30).float()
        a, b2 = ours[op](x, t), ours[op](x, t)
        record(op, "repeat_bit_identical", "float32", torch.equal(a, b2), 0.0, 0.0)
    torch.cuda.synchronize()
    with open(os.path.join(o.out, "validation.csv"), "w") as f:
        f.write("op,case,dtype,status,value_rel_err,grad_rel_err,note\n" + "\n".join(rows) + "\n")
    print(f"validation: {passed} passed, {failed} failed", flush=True)
    if o.validate_only:
        return 0 if failed == 0 else 1

    # ── timing: CUDA events, forward + backward, peak extra memory of each side ────────────────────────────
    def timed(fn, budget_ms):
        for _ in range(2):
            fn()
        torch.cuda.synchronize()
        times, start = [], time.perf_counter()
        while len(times) < 3 or ((time.perf_counter() - start) * 1e3 < budget_ms and len(times) < 50):
            e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            e0.record(); fn(); e1.record(); e1.synchronize()
            times.append(e0.elapsed_time(e1))
        times.sort()
        return times[len(times) // 2]

    def peak(fn):
        torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        fn(); torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - base

    timing = ["op,b,d,impl,ms,peak_extra_bytes"]
    grid_b = [256, 1024, 4096] if not o.quick else [256]
    grid_d = [512, 2048] if not o.quick else [512]
    for op in ("rkd_distance", "rkd_angle", "gram", "cosine", "pdist"):
        for b in grid_b:
            if op == "rkd_angle" and b > 1024:
                continue
            for d in grid_d:
                x, t = randn(b, d).float(), randn(b, d).float()
                for impl, f in (("gpukd", ours[op]), ("pytorch", refs[op])):
                    xs = x.clone().requires_grad_()

                    def step():
                        y = f(xs, t)
                        (y if y.dim() == 0 else y.sum()).backward()
                        xs.grad = None
                    try:
                        ms, mem = timed(step, o.budget_ms), peak(step)
                        timing.append(f"{op},{b},{d},{impl},{ms:.4f},{mem}")
                    except torch.cuda.OutOfMemoryError:
                        timing.append(f"{op},{b},{d},{impl},OOM,")
                        torch.cuda.empty_cache()
                print(timing[-2], "|", timing[-1], flush=True)
    with open(os.path.join(o.out, "timing.csv"), "w") as f:
        f.write("\n".join(timing) + "\n")
    summary = [f"validation: {passed} passed, {failed} failed", "", "| op | b | d | GpuKd ms | PyTorch ms | speed-up | memory ratio |", "|---|---|---|---|---|---|---|"]
    by = {}
    for line in timing[1:]:
        op, b, d, impl, ms, mem = line.split(",")
        by.setdefault((op, b, d), {})[impl] = (ms, mem)
    for (op, b, d), v in by.items():
        g, r = v.get("gpukd"), v.get("pytorch")
        if not g or not r or "OOM" in (g[0], r[0]):
            summary.append(f"| {op} | {b} | {d} | {g and g[0]} | {r and r[0]} | | |")
            continue
        summary.append(f"| {op} | {b} | {d} | {float(g[0]):.3f} | {float(r[0]):.3f} | {float(r[0]) / float(g[0]):.1f}× | "
                       f"{(int(g[1]) / max(int(r[1]), 1)):.3f} |")
    text = "\n".join(summary) + "\n"
    open(os.path.join(o.out, "summary.md"), "w").write(text)
    print(text)
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception:
        traceback.print_exc()
        sys.exit(2)
