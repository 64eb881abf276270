#!/usr/bin/env python3
"""Issue 14 on the GPU machine: the library's CUDA path validated and timed *inside a PyTorch process*.

PyTorch allocates every tensor, owns the primary context and the stream; the .NET launch layer (the published
harness, bench/gpu/publish.sh) is loaded into this process through hostfxr (hostfxr_loader.py) and its op programs
are called with tensor.data_ptr()s and torch.cuda.current_stream().cuda_stream (gpukd_inprocess.py). Temporaries
come from PyTorch's caching allocator through a callback, so torch.cuda.max_memory_allocated sees both sides.

  python3 bench/gpu/inprocess.py --app artifacts/gpu-harness/GpuKd.KernelBench.dll --out OUT [--quick]

Writes OUT/validation.csv (row by row, so a run cut short keeps what it did), OUT/timing.csv, OUT/summary.md (with
the line "validation: N passed, M failed") and prints the summary. Ops covered: every op program — gram, cosine, pdist,
triplet angles, the RKD distance and angle losses, SP, CC (Taylor-RBF γ = 0.4 P = 2, exact RBF, raw bilinear), the IRG
edge loss (max differentiated and held), ICKD, NST, PKT and the structured-KD pixel-wise loss (CE, KL at T = 2).
DIST (β = γ = 2, τ = 4; logits [b, K] both sides, timed at K = 1000), FSP (one pair of layers per side, validated in
its own block: value and the student's two layer gradients) and the structured-KD pair-wise direct fallback (`skd_direct`). --ops a,b,... runs a subset; --deadline-s stops
the timing (not the validation) when the run has taken that long, so the summary is always written.

The references are the published compositions (REFERENCE.md) ported line by line from src/GpuKd/Reference/*.cs, the
C# tests' oracles, with the tests' departures: at a degenerate normalisation (a zero row, a duplicate row's zero
leg) the oracle divides by eps with the row detached (tests/GpuKd.Tests/DegenerateAwareOracle.cs) — the same values,
no 1/eps-scaled gradient; PKT's norm takes x.norm()'s subgradient at a zero row (the published sqrt is NaN there);
the distance oracles (pdist, RKD distance, IRG edge) take direct differences, not the published Gram form, which is
itself off by ~1e-9 at close pairs in float64 (the timing runs the published form). A relation op's gradient is
relative to max(|g|, 1) (weights N(0, 1), as GradientAssert.cs); where the exact gradient is 0 (cosine and the
normalised CC kernels of 1-D rows, locally constant) ‖g‖/‖W‖ ≤ 1e-6 is the check. A float32 row that misses its bar
carries the published float32 composition's own error in its note.
Bars: float64 1e-10, float32 1e-4 relative (max-abs error over the reference's max-abs); where the published float32
code itself cancels (student ≈ teacher for PKT, NST, ICKD — tests/GpuKd.Tests "no worse than the published float32
code"; and PKT of 1-D rows, whose probabilities are cosines of ±1 and whose loss is made of eps-scale terms) max(bar,
2 × the published composition's own float32 error), ICKD's base bar 2e-4 (Float32DifferenceBar). A loss gradient is
relative to max(|g|, 1e-6·|upstream|) (a flat loss — b = 1 — is checked absolutely), a loss value to max(|L|, 1e-8).
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
    ap.add_argument("--device", choices=("cuda", "cpu"), default="cuda",
                    help="cpu: a dry run on ILGPU's CPU simulator over CPU tensors (wrappers, argument orders, references; "
                         "no stream test, no timing) — for a machine without a GPU that has torch")
    ap.add_argument("--ops", default="", help="comma-separated subset of the ops (default: all)")
    ap.add_argument("--deadline-s", type=float, default=1e9, help="skip the remaining timing rows after this many seconds")
    o = ap.parse_args()
    started = time.perf_counter()
    os.makedirs(o.out, exist_ok=True)
    import torch
    import torch.nn.functional as F
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    cuda = o.device == "cuda"
    dev = torch.device(o.device)
    if cuda:
        torch.cuda.init()
    elif not o.quick:
        o.validate_only = True   # the CPU simulator times only the --quick grid (a check of the timing code, not a measurement)
    p = Programs(o.app, mode="cuda" if cuda else "cpu", ordinal=torch.cuda.current_device() if cuda else 0)

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
        assert t.is_contiguous() and t.device.type == dev.type
        return (t.data_ptr(), t.numel())

    def stream():
        return torch.cuda.current_stream().cuda_stream if cuda else 0

    def sync():
        if cuda:
            torch.cuda.synchronize()

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

    def wide(*shape, like):   # the loss programs' float64 tables (for either input dtype)
        return torch.empty(*shape, dtype=torch.float64, device=like.device)

    def nothing(like, dtype=None):   # an empty buffer: "not used" (float64 rows' mean, the raw kernel's norms, ...)
        return torch.empty(0, dtype=dtype or like.dtype, device=like.device)

    def pair_rows_loss(op, make_side, fwd_ints=None, bwd_ints=None):
        """A pair loss over rows [b, d] whose program keeps per side the buffers make_side(x) -> {name: tensor}."""
        fwd_ints, bwd_ints = fwd_ints or {}, bwd_ints or (lambda ds, dt: {})

        class Loss(torch.autograd.Function):
            @staticmethod
            def forward(ctx, s, t):
                s, t = s.contiguous(), t.contiguous()
                b = s.shape[0]
                ss, ts, loss = make_side(s), make_side(t), empty((), like=s)
                bufs = {"xs": s, "xt": t, "loss": loss}
                bufs.update({f"s_{k}": v for k, v in ss.items()})
                bufs.update({f"t_{k}": v for k, v in ts.items()})
                call(op, "forward", s.dtype, bufs, {"b": b, "ds": s.shape[1], "dt": t.shape[1], **fwd_ints})
                ctx.names = list(ss)
                ctx.dims = (b, s.shape[1], t.shape[1])
                ctx.save_for_backward(*ss.values(), *ts.values())
                return loss

            @staticmethod
            def backward(ctx, up):
                saved, k = ctx.saved_tensors, len(ctx.names)
                b, ds, dt = ctx.dims
                xbar = torch.empty(b, ds, dtype=up.dtype, device=up.device)
                bufs = {"upstream": up.reshape(1).contiguous(), "xbar": xbar}
                bufs.update({f"self_{n}": v for n, v in zip(ctx.names, saved[:k])})
                bufs.update({f"other_{n}": v for n, v in zip(ctx.names, saved[k:])})
                call(op, "backward", up.dtype, bufs, {"b": b, "dim": ds, **fwd_ints, **bwd_ints(ds, dt)})
                return xbar, None

        return Loss.apply

    def sp_side(x):
        b, d = x.shape
        f32 = x.dtype == torch.float32   # float32: the centred rows and their mean (written); float64: the input rows, in place
        return {"x": empty(b, d, like=x) if f32 else x, "mean": empty(d, like=x) if f32 else nothing(x),
                "g": wide(b, b, like=x), "norms": wide(b, like=x)}

    def cc_side_for(kind):
        def side(x):
            b, d = x.shape
            f32, raw = x.dtype == torch.float32, kind == 3
            return {"x": x if raw and not f32 else empty(b, d, like=x), "mean": empty(d, like=x) if f32 else nothing(x),
                    "norms": nothing(x, torch.float64) if raw else wide(b, like=x), "a": wide(b, b, like=x)}
        return side

    def edge_side(x):
        b, d = x.shape
        xc = empty(b, d, like=x)
        r = wide(b, 1, like=x) if x.dtype == torch.float32 else xc   # float64: the rows R are Xc itself
        return {"xc": xc, "g": wide(b, b, like=x), "r": r, "max": wide(3, like=x)}

    def cc_loss(kind):
        return pair_rows_loss("cc", cc_side_for(kind), {"kind": kind, "order": 2, "gamma": 0.4})

    def edge_loss(differentiate_max):
        return pair_rows_loss("irg_edge", edge_side, {}, lambda ds, dt: {"dim_other": dt, "differentiate_max": int(differentiate_max)})

    class Pkt(torch.autograd.Function):
        @staticmethod
        def forward(ctx, s, t):
            s, t = s.contiguous(), t.contiguous()
            b, ds, dt = s.shape[0], s.shape[1], t.shape[1]

            def side(x):
                return [x, empty(b, like=x), empty(b, x.shape[1], like=x), empty(b, b, like=x)]
            sides, loss = side(s) + side(t), empty((), like=s)
            names = [f"{q}_{n}" for q in "st" for n in ("x", "norms", "unit", "s")]
            call("pkt", "forward", s.dtype, dict(zip(names, sides), loss=loss), {"b": b, "ds": ds, "dt": dt, "mean": 1, "eps": 1e-7})
            ctx.save_for_backward(*sides)
            return loss

        @staticmethod
        def backward(ctx, up):
            sides = ctx.saved_tensors
            b, ds, dt = sides[0].shape[0], sides[0].shape[1], sides[4].shape[1]
            names = [f"{q}_{n}" for q in "st" for n in ("x", "norms", "unit", "s")]
            xbar = torch.empty(b, ds, dtype=up.dtype, device=up.device)
            call("pkt", "backward", up.dtype, dict(zip(names, sides), upstream=up.reshape(1).contiguous(), xbar=xbar),
                 {"b": b, "ds": ds, "dt": dt, "teacher": 0, "mean": 1, "eps": 1e-7})
            return xbar, None

    class Ickd(torch.autograd.Function):
        @staticmethod
        def forward(ctx, s, t):
            bsz, c = s.shape[0], s.shape[1]
            xs, xt = s.reshape(bsz, c, -1).contiguous(), t.reshape(bsz, c, -1).contiguous()

            def side(x):
                return [x, empty(bsz, c, c, like=x), empty(bsz * c, like=x)]
            ss, ts, loss = side(xs), side(xt), empty((), like=s)
            names = ("x", "g", "norms")
            bufs = {f"s_{n}": v for n, v in zip(names, ss)}
            bufs.update({f"t_{n}": v for n, v in zip(names, ts)})
            call("ickd", "forward", s.dtype, dict(bufs, loss=loss), {"batch": bsz, "c": c, "ns": xs.shape[2], "nt": xt.shape[2], "mean": 1})
            ctx.shape = s.shape
            ctx.save_for_backward(*ss, *ts)
            return loss

        @staticmethod
        def backward(ctx, up):
            v = ctx.saved_tensors
            bsz, c, n = v[0].shape
            names = ("x", "g", "norms")
            xbar = torch.empty(bsz, c, n, dtype=up.dtype, device=up.device)
            bufs = {f"self_{k}": t for k, t in zip(names, v[:3])}
            bufs.update({f"other_{k}": t for k, t in zip(names, v[3:])})
            call("ickd", "backward", up.dtype, dict(bufs, upstream=up.reshape(1).contiguous(), xbar=xbar), {"batch": bsz, "c": c, "n": n, "mean": 1})
            return xbar.reshape(ctx.shape), None

    class NstFn(torch.autograd.Function):
        @staticmethod
        def forward(ctx, s, t):
            bsz, cs, ct = s.shape[0], s.shape[1], t.shape[1]
            xs, xt = s.reshape(bsz, cs, -1).contiguous(), t.reshape(bsz, ct, -1).contiguous()
            npix, n = xs.shape[2], cs + ct
            norms, unit, g, loss = empty(bsz * n, like=s), empty(bsz, n, npix, like=s), empty(bsz, n, n, like=s), empty((), like=s)
            call("nst", "forward", s.dtype, {"xs": xs, "xt": xt, "norms": norms, "unit": unit, "g": g, "loss": loss},
                 {"batch": bsz, "cs": cs, "ct": ct, "npix": npix, "mean": 1})
            ctx.shape, ctx.ct = s.shape, ct
            ctx.save_for_backward(norms, unit, g)
            return loss

        @staticmethod
        def backward(ctx, up):
            norms, unit, g = ctx.saved_tensors
            bsz, n, npix = unit.shape
            cs = n - ctx.ct
            zbar = torch.empty(bsz, n, npix, dtype=up.dtype, device=up.device)
            call("nst", "backward", up.dtype, {"norms": norms, "unit": unit, "g": g, "upstream": up.reshape(1).contiguous(), "zbar": zbar},
                 {"batch": bsz, "cs": cs, "ct": ctx.ct, "npix": npix, "mean": 1})
            return zbar[:, :cs].reshape(ctx.shape), None

    def pool_to_smaller(s, t):
        """The library's rule (NstLoss.PoolToSmaller): the map with the larger H adaptive-average-pooled to the other's size."""
        if s.shape[2] > t.shape[2]:
            s = F.adaptive_avg_pool2d(s, t.shape[2:])
        elif s.shape[2] < t.shape[2]:
            t = F.adaptive_avg_pool2d(t, s.shape[2:])
        return s, t

    def nst(s, t):
        s, t = pool_to_smaller(s, t)
        return NstFn.apply(s, t)

    def skd_pixelwise(kl, temperature):
        class Pixelwise(torch.autograd.Function):
            @staticmethod
            def forward(ctx, s, t):
                zs, zt = s.contiguous(), t.contiguous()
                b, k = zs.shape[0], zs.shape[1]
                p = zs[0, 0].numel()
                gs, loss = torch.empty_like(zs), empty((), like=zs)   # the teacher's gradient is not wanted: gt empty, not written
                call("skd_pixelwise", "forward", zs.dtype, {"zs": zs, "zt": zt, "gs": gs, "gt": nothing(zs), "loss": loss},
                     {"b": b, "k": k, "p": p, "kl": int(kl), "reduction": 0, "temperature": temperature})
                ctx.save_for_backward(gs)
                return loss

            @staticmethod
            def backward(ctx, up):
                (g,) = ctx.saved_tensors
                result = torch.empty_like(g)
                call("skd_pixelwise", "backward", g.dtype, {"g": g, "upstream": up.reshape(1).contiguous(), "result": result},
                     {"b": g.shape[0], "k": g.shape[1], "p": g[0, 0].numel()})
                return result, None

        return Pixelwise.apply

    def dist_loss(beta, gamma, tau):
        """DIST over logits [b, K] (both sides): the forward keeps both softmaxes and the row/column statistics tables."""
        class Dist(torch.autograd.Function):
            @staticmethod
            def forward(ctx, zs, zt):
                zs, zt = zs.contiguous(), zt.contiguous(); b, k = zs.shape
                ys, yt, rws, cls, loss = empty(b, k, like=zs), empty(b, k, like=zs), empty(5 * b, like=zs), empty(5 * k, like=zs), empty(1, like=zs)
                call("dist", "forward", zs.dtype, {"zs": zs, "zt": zt, "ys": ys, "yt": yt, "rows": rws, "cols": cls, "loss": loss},
                     {"b": b, "k": k, "mean": 1, "beta": beta, "gamma": gamma, "tau": tau})
                ctx.save_for_backward(ys, yt, rws, cls)
                return loss.reshape(())

            @staticmethod
            def backward(ctx, up):
                ys, yt, rws, cls = ctx.saved_tensors; b, k = ys.shape
                zbar = empty(b, k, like=ys)
                call("dist", "backward", ys.dtype, {"ys": ys, "yt": yt, "rows": rws, "cols": cls, "upstream": up.reshape(1).to(ys.dtype).contiguous(),
                                                    "zbar": zbar}, {"b": b, "k": k, "teacher": 0, "mean": 1, "beta": beta, "gamma": gamma, "tau": tau})
                return zbar, None

        return Dist.apply

    ours = {
        "gram": lambda x, t: Gram.apply(x), "cosine": lambda x, t: Cosine.apply(x), "pdist": lambda x, t: Pdist.apply(x),
        "triplet_angles": lambda x, t: Angles.apply(x), "rkd_distance": rkd_loss("rkd_distance"), "rkd_angle": rkd_loss("rkd_angle"),
        "sp": pair_rows_loss("sp", sp_side), "cc_taylor": cc_loss(0), "cc_rbf": cc_loss(1), "cc_raw": cc_loss(3),
        "irg_edge": edge_loss(True), "irg_edge_held_max": edge_loss(False), "pkt": Pkt.apply,
        "ickd": Ickd.apply, "nst": nst, "skd_ce": skd_pixelwise(False, 2.0), "skd_kl": skd_pixelwise(True, 2.0),
        "dist": dist_loss(2.0, 2.0, 4.0),   # the DIST paper's CIFAR setting (β = γ = 2, τ = 4)
        # FSP (issue 16) takes two layers per side: validated in its own block below (fsp_check).
    }
    # the inputs each op takes: rows [b, d] (teacher [b, d']), maps [B, C, H, W] (ICKD: the teacher's C equal, its H·W free;
    # NST: its C free, the larger map pooled), logits [B, K, H, W] (teacher the same shape)
    kind_of = {op: "rows" for op in ours}
    kind_of.update({"dist": "logit_rows", "ickd": "maps_same_c", "nst": "maps", "skd_ce": "logits", "skd_kl": "logits"})

    # ── the references (the published compositions; at degenerate normalisations the tests' oracle, see the docstring) ─
    def normalize_da(v, dim=-1, eps=1e-12):
        """v / ‖v‖ where ‖v‖ > eps; v.detach() / eps (no gradient) where not (DegenerateAwareOracle.Normalize)."""
        n = v.norm(dim=dim, keepdim=True)
        regular = n > eps
        return torch.where(regular, v / torch.where(regular, n, torch.ones_like(n)), v.detach() / eps)

    def pdist_ref(e, eps=1e-12, squared=False):
        sq = e.pow(2).sum(1)
        res = (sq.unsqueeze(1) + sq.unsqueeze(0) - 2 * e @ e.t()).clamp(min=eps)
        if not squared:
            res = res.sqrt()
        res = res.clone()
        res[range(len(e)), range(len(e))] = 0
        return res

    def pdist_direct(e, eps=1e-12, squared=False):
        """pdist's semantics (clamp 1e-12, √ unless squared, diagonal 0) from direct differences: the float64 oracle. The
        published Gram form (pdist_ref, timed) loses ~1e-16·‖x‖²/d² relative to close pairs (257 points on a line: ~1e-9
        in the gradient), more than the float64 bar; the library recomputes such pairs directly."""
        res = (e.unsqueeze(1) - e.unsqueeze(0)).pow(2).sum(-1).clamp(min=eps)
        if not squared:
            res = res.sqrt()
        return res * (1 - torch.eye(len(e), dtype=e.dtype, device=e.device))

    def rkd_distance_oracle(s, t):
        with torch.no_grad():
            td = pdist_direct(t); td = td / td[td > 0].mean()
        d = pdist_direct(s); d = d / d[d > 0].mean()
        return F.smooth_l1_loss(d, td)

    def angles_ref(e):
        u = normalize_da(e.unsqueeze(0) - e.unsqueeze(1), dim=2)   # the self legs are 0: no gradient through them
        return torch.bmm(u, u.transpose(1, 2)).reshape(-1)

    def rkd_distance_ref(s, t):
        with torch.no_grad():
            td = pdist_ref(t); td = td / td[td > 0].mean()
        d = pdist_ref(s); d = d / d[d > 0].mean()
        return F.smooth_l1_loss(d, td)

    def rkd_angle_ref(s, t):
        with torch.no_grad():
            ta = angles_ref(t)
        return F.smooth_l1_loss(angles_ref(s), ta)

    def sp_ref(s, t):
        """SP (Tung & Mori): G = QQᵀ, F.normalize(G) over rows, Σ (G_T − G_S)² / b²."""
        b = s.shape[0]
        gs = normalize_da(s.reshape(b, -1) @ s.reshape(b, -1).t())
        gt = normalize_da(t.reshape(b, -1) @ t.reshape(b, -1).t())
        return ((gt - gs) * (gt - gs)).sum() / (b * b)

    def cc_kernel_matrix(x, kind, gamma=0.4, order=2):
        """CC (Peng et al.): x̂ = F.normalize(x), S = x̂x̂ᵀ; the Taylor-RBF series, the exact RBF, or xxᵀ (raw)."""
        f = x.reshape(x.shape[0], -1)
        if kind == 3:
            return f @ f.t()
        xn = normalize_da(f)
        sim = xn @ xn.t()
        if kind == 1:
            return (-2 * gamma * (1 - sim)).exp()
        k = torch.zeros_like(sim)
        for q in range(order + 1):
            k = k + math.exp(-2 * gamma) * (2 * gamma) ** q / math.factorial(q) * sim.pow(q)
        return k

    def cc_ref(kind):
        return lambda s, t: (cc_kernel_matrix(s, kind) - cc_kernel_matrix(t, kind)).pow(2).mean()

    def edge_matrix(x, differentiate_max, pdist=None):
        """IRG: pdist squared (clamp 1e-12, zero diagonal) / its max (carrying gradient unless held); 0 where the max is 0."""
        q = (pdist or pdist_ref)(x.reshape(x.shape[0], -1), squared=True)
        m = q.max()
        if not differentiate_max:
            m = m.detach()
        zero = m == 0
        return torch.where(zero, torch.zeros_like(q), q / torch.where(zero, torch.ones_like(m), m))

    def edge_ref(differentiate_max, pdist=None):
        return lambda s, t: (edge_matrix(s, differentiate_max, pdist) - edge_matrix(t, differentiate_max, pdist)).pow(2).mean()

    def dist_ref(beta, gamma, tau, degenerate_aware=True):
        """torchdistill DISTLoss: softmax(z/τ) per side, βτ²(1 − mean row Pearson) + γτ²(1 − mean column Pearson), Pearson the
        cosine of the centred vectors (torch 2.x: each norm clamped at 1e-8). degenerate_aware: a zero-variance row or column
        has correlation 0 and no gradient, as the library (the published one is 1/eps-scaled there)."""
        def pearson(a, c):
            a, c = a - a.mean(1, keepdim=True), c - c.mean(1, keepdim=True)
            if degenerate_aware:
                return (normalize_da(a, eps=1e-8) * normalize_da(c, eps=1e-8)).sum(1)
            return (a * c).sum(1) / (a.norm(dim=1).clamp_min(1e-8) * c.norm(dim=1).clamp_min(1e-8))

        def f(zs, zt):
            ys, yt = (zs / tau).softmax(1), (zt / tau).softmax(1)
            return beta * tau ** 2 * (1 - pearson(ys, yt).mean()) + gamma * tau ** 2 * (1 - pearson(ys.t(), yt.t()).mean())
        return f

    def pkt_ref(s, t, eps=1e-7):
        """RepDistiller PKT.cosine_similarity_loss, line by line (x.norm()'s subgradient at a zero row)."""
        def unit(x):
            x = x.reshape(x.shape[0], -1)
            u = x / (x.norm(dim=1, keepdim=True) + eps)
            return torch.where(u.isnan(), torch.zeros_like(u), u)   # output_net[output_net != output_net] = 0
        o, tt = unit(s), unit(t)
        model, target = (o @ o.t() + 1.0) / 2.0, (tt @ tt.t() + 1.0) / 2.0
        model = model / model.sum(dim=1, keepdim=True)
        target = target / target.sum(dim=1, keepdim=True)
        return torch.mean(target * torch.log((target + eps) / (model + eps)))

    def ickd_ref(s, t):
        """torchdistill ChSimLoss.batch_loss: bmm(f, fᵀ) per image, F.normalize(dim=2), Σ g_diff² / (ch·bsz·bsz)."""
        bsz, ch = s.shape[0], s.shape[1]
        fs, ft = s.reshape(bsz, ch, -1), t.reshape(bsz, ch, -1)
        es = normalize_da(torch.bmm(fs, fs.permute(0, 2, 1)), dim=2)
        et = normalize_da(torch.bmm(ft, ft.permute(0, 2, 1)), dim=2)
        g = es - et
        return (g * g).reshape(bsz, -1).sum() / (ch * bsz * bsz)

    def poly_kernel(a, b2):
        return (a.unsqueeze(1) * b2.unsqueeze(2)).sum(-1).pow(2)

    def nst_ref(s, t):
        """RepDistiller NSTLoss.nst_loss (full_loss): pool the larger map to (H, H), F.normalize over the pixels,
        poly_kernel(t, t).mean().detach() + poly_kernel(s, s).mean() − 2 poly_kernel(s, t).mean()."""
        if s.shape[2] > t.shape[2]:
            s = F.adaptive_avg_pool2d(s, (t.shape[2], t.shape[2]))
        elif s.shape[2] < t.shape[2]:
            t = F.adaptive_avg_pool2d(t, (s.shape[2], s.shape[2]))
        s = normalize_da(s.reshape(s.shape[0], s.shape[1], -1), dim=2)
        t = normalize_da(t.reshape(t.shape[0], t.shape[1], -1), dim=2)
        return poly_kernel(t, t).mean().detach() + poly_kernel(s, s).mean() - 2 * poly_kernel(s, t).mean()

    def skd_ref(kl, temperature):
        """Structured KD pixel-wise: CE −Σ softmax(z_T/T)·log_softmax(z_S/T) / (H·W); KL T²·Σ p_T (log p_T − log p_S) / (B·H·W)."""
        def f(s, t):
            b, hw = s.shape[0], s[0, 0].numel()
            log_s, log_t = F.log_softmax(s / temperature, dim=1), F.log_softmax(t / temperature, dim=1)
            p_t = log_t.exp()
            if not kl:
                return -(p_t * log_s).sum() / hw
            return (p_t * (log_t - log_s)).sum() * temperature ** 2 / (b * hw)
        return f

    refs = {
        "gram": lambda x, t: x @ x.t(), "cosine": lambda x, t: normalize_da(x) @ normalize_da(x).t(),
        "pdist": lambda x, t: pdist_ref(x), "triplet_angles": lambda x, t: angles_ref(x),
        "rkd_distance": rkd_distance_ref, "rkd_angle": rkd_angle_ref,
        "sp": sp_ref, "cc_taylor": cc_ref(0), "cc_rbf": cc_ref(1), "cc_raw": cc_ref(3),
        "irg_edge": edge_ref(True), "irg_edge_held_max": edge_ref(False), "pkt": pkt_ref,
        "dist": dist_ref(2.0, 2.0, 4.0, degenerate_aware=False),
        "ickd": ickd_ref, "nst": nst_ref, "skd_ce": skd_ref(False, 2.0), "skd_kl": skd_ref(True, 2.0),
    }
    # the validation oracles: the references, with distances from direct differences (timing keeps the published Gram form)
    oracles = dict(refs, pdist=lambda x, t: pdist_direct(x), rkd_distance=rkd_distance_oracle,
                   irg_edge=edge_ref(True, pdist_direct), irg_edge_held_max=edge_ref(False, pdist_direct),
                   dist=dist_ref(2.0, 2.0, 4.0))   # DIST: zero-variance rows/columns (b = 1, K = 1, a zero row) without 1/eps gradients
    # ops that are locally constant in 1-D (normalised rows of one coordinate are ±1): their exact gradient at D = 1 is 0
    locally_constant_1d = {"cosine", "cc_taylor", "cc_rbf"}
    # float32 where the published float32 code itself cancels (student ≈ teacher): no worse than it (2×), the base bar
    no_worse = {"pkt": 1e-4, "nst": 1e-4, "ickd": 2e-4}
    direct_check = not o.ops or "skd_direct" in o.ops.split(",")   # the pair-wise fallback's kernels (below), not a loss of ours
    fsp_check = not o.ops or "fsp" in o.ops.split(",")            # FSP: four maps per call, its own block below
    if o.ops:
        wanted = set(o.ops.split(",")) - {"skd_direct", "fsp"}
        unknown = wanted - set(ours)
        if unknown:
            raise SystemExit(f"unknown ops {sorted(unknown)}; known: {', '.join(ours)}")
        ours = {k: v for k, v in ours.items() if k in wanted}

    # ── validation ────────────────────────────────────────────────────────────────────────────────────────────
    rows, passed, failed = [], 0, 0
    vfile = open(os.path.join(o.out, "validation.csv"), "w")
    vfile.write("op,case,dtype,status,value_rel_err,grad_rel_err,note\n")

    def record(op, case, dtype, ok, err_v, err_g, note=""):
        nonlocal passed, failed
        passed += bool(ok); failed += not ok
        rows.append(f"{op},{case},{dtype},{'PASS' if ok else 'FAIL'},{err_v:.3e},{err_g:.3e},{note}")
        vfile.write(rows[-1] + "\n"); vfile.flush()
        if not ok:
            print(f"  FAIL {op} {case} {dtype}: value {err_v:.2e} grad {err_g:.2e} {note}", flush=True)

    def rel(a, b, floor=0.0):
        scale = max(b.abs().max().item(), floor)
        return (a - b).abs().max().item() / (scale if scale > 0 else 1.0)

    def value_and_grad(f, x, t, w=None):
        xs = x.detach().requires_grad_()
        y = f(xs, t)
        if w is None:
            w = torch.randn_like(y.double()).to(x.dtype) if y.dim() > 0 else torch.full((), 1.37, dtype=x.dtype, device=dev)
        (g,) = torch.autograd.grad((y * w).sum(), xs)
        return y, g, w

    def compare(op, x, t, dtype, case):
        """Value and student gradient (upstream not 1) against the float64 reference on the same (rounded) inputs."""
        try:
            xs, ts = x.to(dtype), t.to(dtype)
            y, gx, w = value_and_grad(ours[op], xs, ts)
            yr, gr, _ = value_and_grad(oracles[op], xs.double(), ts.double(), w.double())
            # a relation op's gradient (weights N(0, 1)) relative to max(|g|, 1), as tests/GpuKd.Tests/GradientAssert.cs: the floor
            # only matters where the exact gradient vanishes (b = 1, ...); the cosine matrix of 1-D rows is locally constant,
            # its exact gradient 0: there ‖g‖/‖W‖ ≤ 1e-6 (GradientAssert.VanishingGradient) is the check
            # a loss's gradient relative to max(|g|, 1e-6·|upstream|): a flat loss (b = 1, PKT's eps-driven 1-D gradient ~1e-7)
            # is checked absolutely, a regular one (entries ≳ 1/b²) relatively
            floor_g = 1.0 if y.dim() > 0 else 1e-6 * abs(w.item())
            # a loss value relative to max(|L|, 1e-8): a loss that is identically 0 (CC or PKT at b = 1) leaves rounding dust
            ev, eg = rel(y.double(), yr, 1e-8 if y.dim() == 0 else 0.0), rel(gx.double(), gr, floor_g)
            bar, note = 1e-10 if dtype == torch.float64 else 1e-4, ""
            if op in locally_constant_1d and kind_of[op] == "rows" and xs.shape[-1] == 1:
                # exact gradient 0: ‖g‖/‖W‖ ≤ 1e-6 (GradientAssert.VanishingGradient), reported scaled to the bar
                eg = (gx.double().norm() / w.double().norm()).item() * bar / 1e-6
                note = "1-D: locally constant; grad column = |g|/|W| scaled so that 1e-6 is the bar"
            if dtype == torch.float32 and (op in no_worse and case == "student_near_teacher" or not (ev <= bar and eg <= bar)):
                # (PKT of 1-D rows: its probabilities come from cosines of ±1, the loss from eps-scale terms — the published
                # float32 code cancels there too, so it is held to "no worse than that", as at student ≈ teacher)
                y32, g32, _ = value_and_grad(refs[op], xs, ts, w)   # the published composition in float32, for comparison
                pv, pg = rel(y32.double(), yr, 1e-8 if y.dim() == 0 else 0.0), rel(g32.double(), gr, floor_g)
                note = (note + " " if note else "") + f"published float32: value {pv:.2e} grad {pg:.2e}"
                if op in no_worse and (case == "student_near_teacher" or op == "pkt" and case.endswith("x1")):
                    bar = max(no_worse[op], 2 * max(pv, pg))
            record(op, case, dt_name[dtype], math.isfinite(ev) and math.isfinite(eg) and ev <= bar and eg <= bar, ev, eg, note)
        except Exception as e:   # noqa: BLE001 - a failing case is recorded, the run goes on
            record(op, case, dt_name[dtype], False, float("nan"), float("nan"), repr(e)[:120].replace(",", ";"))

    gen = torch.Generator(device=dev).manual_seed(0)

    def randn(*shape):
        return torch.randn(*shape, generator=gen, device=dev, dtype=torch.float64)

    def pair_inputs(op, size):
        """(student, teacher) for one size of the op's kind: rows (b, d); maps / logits (B, C, H, W)."""
        kind = kind_of[op]
        if kind == "rows":
            b, d = size
            return randn(b, d), randn(b, d + 3)
        if kind == "logit_rows":   # DIST: logits [b, K] on both sides, a peaked teacher
            b, d = size
            return randn(b, d), 3 * randn(b, d)
        bsz, c, h, w = size
        if kind == "maps_same_c":
            return randn(bsz, c, h, w), randn(bsz, c, h + 1, w)         # ICKD: the teacher's H·W may differ
        if kind == "maps":
            return randn(bsz, c, h, w), randn(bsz, c + 2, 2 * h, 2 * w)  # NST: more channels, the larger map pooled
        return randn(bsz, c, h, w), 3 * randn(bsz, c, h, w)              # logits: a peaked teacher

    sizes_b = [1, 2, 3, 33, 257] if not o.quick else [3, 33]
    sizes_d = [1, 5, 129] if not o.quick else [5]
    map_sizes = [(1, 1, 1, 1), (2, 3, 2, 2), (3, 5, 3, 3), (8, 16, 5, 5), (33, 7, 4, 4)] if not o.quick else [(3, 5, 3, 3)]
    logit_sizes = [(1, 1, 1, 1), (2, 3, 2, 2), (3, 19, 5, 7), (4, 21, 16, 16)] if not o.quick else [(3, 19, 5, 7)]
    for op in ours:
        kind = kind_of[op]
        rowlike = kind in ("rows", "logit_rows")
        if rowlike:
            sizes = [(b, d) for b in sizes_b for d in sizes_d
                     if not (op == "rkd_distance" and b < 2) and not (op in ("triplet_angles", "rkd_angle") and b > 129)]
        else:
            sizes = logit_sizes if kind == "logits" else map_sizes
        for size in sizes:
            x, t = pair_inputs(op, size)
            for dtype in (torch.float32, torch.float64):
                compare(op, x, t, dtype, "x".join(map(str, size)))
        # adversarial inputs at one odd size: a duplicate, a zero row / channel / image, the student within 1 % of the teacher
        x, t = pair_inputs(op, (17, 9) if rowlike else (5, 6, 3, 3))
        dup, zero = x.clone(), x.clone()
        dup[3] = dup[1]
        if rowlike:
            zero[4] = 0
        else:
            zero[2, 1] = 0   # one channel of one image
        zero_image = x.clone(); zero_image[0] = 0
        tn = t[:, :x.shape[1]] if rowlike else (t if t.shape == x.shape else randn(*x.shape))
        near = tn + 0.01 * randn(*tn.shape)
        cases = [("duplicate_rows", dup, t), ("zero_row", zero, t), ("student_near_teacher", near, tn)]
        if not rowlike:
            cases.append(("zero_image", zero_image, t))
        for case, xc, tc in cases:
            for dtype in (torch.float64, torch.float32):
                compare(op, xc, tc, dtype, case)
        # strided input (a transposed view): made contiguous on the device first
        xt_ = randn(x.shape[1], x.shape[0]).t() if rowlike else randn(*reversed(x.shape)).permute(3, 2, 1, 0)
        compare(op, xt_, t, torch.float32, "strided_input")
        # NaN in the student: a non-finite value or gradient, never a finite wrong answer (PKT departs from the published masking)
        try:
            xn = x.float().clone(); xn.view(-1)[1] = float("nan")
            y, g, _ = value_and_grad(ours[op], xn, t.float())
            ok = not (torch.isfinite(y).all().item() and torch.isfinite(g).all().item())
            record(op, "nan_input", "float32", ok, 0.0, 0.0, "" if ok else "finite result from a NaN input")
        except Exception as e:   # noqa: BLE001
            record(op, "nan_input", "float32", False, float("nan"), float("nan"), repr(e)[:120].replace(",", ";"))

    def timing_inputs(op, b, d):
        if kind_of[op] in ("rows", "logit_rows"):
            return randn(b, d).float(), randn(b, d).float()
        x, t = pair_inputs(op, (b, 8, 4, 4) if kind_of[op] != "logits" else (b, 5, 4, 4))
        return x.float(), t.float()

    # structured KD pair-wise: the deferred route's direct-form fallback (issue 13) on one image, against torch in float64 —
    # the flag set (rows = Σ_q D², the hat gradients on a column block written at an offset into a larger block) and clear
    # (rows zero, the blocks untouched); random nodes and nodes sharing an offset of 100 (the case the fallback exists for).
    for dtype in ((torch.float64, torch.float32) if direct_check else ()):
        for case, shift in (("random", 0.0), ("offset100", 100.0)):
            for flagged in (1, 0):
                try:
                    cs, ct, n, eps = 5, 3, 37, 1e-8
                    xs, xt = (randn(cs, n) + shift).to(dtype), (randn(ct, n) + shift).to(dtype)
                    ns, nt = xs.double().norm(dim=0), xt.double().norm(dim=0)
                    hs, ht = xs.double() / (ns + eps), xt.double() / (nt + eps)
                    dmat = hs.t() @ hs - ht.t() @ ht
                    flag = torch.full((1,), float(flagged), dtype=torch.float64, device=dev)
                    row_sums = torch.full((n,), 7.0, dtype=torch.float64, device=dev)
                    call("skd_direct", "forward", dtype, {"flag": flag, "xs": xs, "xt": xt, "ns": ns, "nt": nt, "rows": row_sums},
                         {"cs": cs, "ct": ct, "n": n, "offset": 1, "eps": eps})
                    expect = (dmat * dmat).sum(0) if flagged else torch.zeros(n, dtype=torch.float64, device=dev)
                    p0, m, gstride, goff = 11, 9, 13, 2
                    scratch = torch.empty(n * m, dtype=torch.float64, device=dev)
                    gs = torch.full((cs, gstride), 7.0, dtype=torch.float64, device=dev)
                    gt = torch.full((ct, gstride), 7.0, dtype=torch.float64, device=dev)
                    es, et = gs.clone(), gt.clone()
                    if flagged:
                        es[:, goff:goff + m] = hs @ dmat[:, p0:p0 + m]
                        et[:, goff:goff + m] = -(ht @ dmat[:, p0:p0 + m])
                    call("skd_direct", "backward", dtype, {"flag": flag, "xs": xs, "xt": xt, "ns": ns, "nt": nt, "d": scratch, "gs": gs, "gt": gt},
                         {"cs": cs, "ct": ct, "n": n, "p0": p0, "m": m, "gstride": gstride, "goff": goff, "offset": 1, "eps": eps})
                    sync()
                    ev, eg = rel(row_sums, expect), max(rel(gs, es), rel(gt, et))
                    record("skd_direct", f"{case}_flag{flagged}", dt_name[dtype], ev <= 1e-9 and eg <= 1e-9, ev, eg)
                except Exception as e:   # noqa: BLE001
                    record("skd_direct", f"{case}_flag{flagged}", dt_name[dtype], False, float("nan"), float("nan"), repr(e)[:120].replace(",", ";"))

    # FSP (issue 16), one pair of layers per side: bot [B, Cb, H, W], top [B, Ct, H, W] (the teacher's maps at another size: its
    # own N), value and the gradients of the student's two layers (upstream 1.37) against RepDistiller's FSP in float64.
    class Fsp(torch.autograd.Function):
        @staticmethod
        def forward(ctx, bs, tps, bt, tpt):
            bs, tps, bt, tpt = (v.contiguous() for v in (bs, tps, bt, tpt))
            batch, cb, ct = bs.shape[0], bs.shape[1], tps.shape[1]
            d, loss = empty(batch * ct * cb, like=bs), empty(1, like=bs)
            call("fsp", "forward", bs.dtype, {"bot_s": bs, "top_s": tps, "bot_t": bt, "top_t": tpt, "d": d, "loss": loss},
                 {"batch": batch, "ct": ct, "cb": cb, "ns": bs[0, 0].numel(), "nt": bt[0, 0].numel(), "mean": 1})
            ctx.save_for_backward(bs, tps, d)
            return loss.reshape(())

        @staticmethod
        def backward(ctx, up):
            bs, tps, d = ctx.saved_tensors
            batch, cb, ct = bs.shape[0], bs.shape[1], tps.shape[1]
            bbar, tbar = torch.empty_like(bs), torch.empty_like(tps)
            call("fsp", "backward", bs.dtype, {"bot": bs, "top": tps, "d": d, "upstream": up.reshape(1).to(bs.dtype).contiguous(),
                                               "bot_bar": bbar, "top_bar": tbar},
                 {"batch": batch, "ct": ct, "cb": cb, "n": bs[0, 0].numel(), "teacher": 0, "mean": 1})
            return bbar, tbar, None, None

    def fsp_ref(bs, tps, bt, tpt):
        """RepDistiller FSP: bmm(bot, topᵀ)/N per side, mean of the squared difference."""
        def fsp(bot, top):
            b1, t1 = bot.reshape(bot.shape[0], bot.shape[1], -1), top.reshape(top.shape[0], top.shape[1], -1)
            return torch.bmm(b1, t1.transpose(1, 2)) / b1.shape[2]
        return (fsp(bs, tps) - fsp(bt, tpt)).pow(2).mean()

    fsp_sizes = [(1, 1, 1, 1, 1, 1), (2, 3, 5, 4, 4, 4), (3, 16, 8, 5, 7, 6), (2, 32, 64, 8, 8, 8)] if not o.quick else [(2, 3, 5, 4, 4, 4)]
    for batch, cb, ct, h, w, ht in (fsp_sizes if fsp_check else ()):
        for case in ("random", "student_near_teacher"):
            bt, tpt = randn(batch, cb, ht, ht), randn(batch, ct, ht, ht)
            bs, tps = randn(batch, cb, h, w), randn(batch, ct, h, w)
            if case == "student_near_teacher":
                if (h, w) != (ht, ht):
                    continue
                bs, tps = bt + 0.01 * randn(*bt.shape), tpt + 0.01 * randn(*tpt.shape)
            for dtype in (torch.float64, torch.float32):
                label = f"{case}_{batch}x{cb}x{ct}x{h}x{w}"
                try:
                    xs = [v.to(dtype).requires_grad_() for v in (bs, tps)]
                    y = Fsp.apply(xs[0], xs[1], bt.to(dtype), tpt.to(dtype))
                    gb, gt_ = torch.autograd.grad(1.37 * y, xs)
                    rs = [v.to(dtype).double().requires_grad_() for v in (bs, tps)]
                    yr = fsp_ref(rs[0], rs[1], bt.to(dtype).double(), tpt.to(dtype).double())
                    gbr, gtr = torch.autograd.grad(1.37 * yr, rs)
                    floor = 1e-6 * 1.37
                    ev = rel(y.double(), yr, 1e-8)
                    eg = max(rel(gb.double(), gbr, floor), rel(gt_.double(), gtr, floor))
                    bar = 1e-10 if dtype == torch.float64 else 1e-4
                    record("fsp", label, dt_name[dtype], ev <= bar and eg <= bar, ev, eg)
                except Exception as e:   # noqa: BLE001
                    record("fsp", label, dt_name[dtype], False, float("nan"), float("nan"), repr(e)[:120].replace(",", ";"))

    # stream ordering: work queued before and after on a non-default stream
    s2 = torch.cuda.Stream() if cuda else None
    for op in (ours if cuda else ()):
        x, t = timing_inputs(op, 33, 20)
        ref = ours[op](x, t).clone()
        with torch.cuda.stream(s2):
            x2 = torch.zeros_like(x); torch.cuda._sleep(2_000_000)   # a long kernel queued first
            x2.copy_(x)                                                 # the input only exists after it
            y = ours[op](x2, t.clone())
            y2 = y * 1                                                  # work queued after reads the result
        s2.synchronize()
        ok = torch.equal(y2, ref)
        record(op, "stream_ordering", "float32", ok, 0.0 if ok else (y2 - ref).abs().max().item(), 0.0)
    # bit-identical repeats (value and gradient)
    for op in ours:
        x, t = timing_inputs(op, 65, 40)
        y1, g1, w = value_and_grad(ours[op], x, t)
        y2, g2, _ = value_and_grad(ours[op], x, t, w)
        record(op, "repeat_bit_identical", "float32", torch.equal(y1, y2) and torch.equal(g1, g2), 0.0, 0.0)
    sync()
    vfile.close()
    print(f"validation: {passed} passed, {failed} failed", flush=True)
    if o.validate_only:
        return 0 if failed == 0 else 1

    # ── timing: CUDA events, forward + backward, peak extra memory of each side ────────────────────────────
    def timed(fn, budget_ms):
        for _ in range(2 if cuda else 1):
            fn()
        sync()
        times, start = [], time.perf_counter()
        while len(times) < 3 or ((time.perf_counter() - start) * 1e3 < budget_ms and len(times) < 50):
            if not cuda:   # the CPU dry run: wall clock, one run
                t0 = time.perf_counter(); fn(); times.append((time.perf_counter() - t0) * 1e3)
                break
            e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            e0.record(); fn(); e1.record(); e1.synchronize()
            times.append(e0.elapsed_time(e1))
        times.sort()
        return times[len(times) // 2]

    def peak(fn):
        if not cuda:
            return 0
        torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        fn(); torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - base

    timing = ["op,b,d,impl,ms,peak_extra_bytes"]
    grid_b = [256, 1024, 4096] if not o.quick else [256]
    grid_d = [512, 2048] if not o.quick else [512]
    # (op, label b, label d, student, teacher): rows [b, D] for the relation ops and the row losses (teacher D as the student's);
    # maps [B, C, H, W] for ICKD and NST (NST's teacher with more channels, same size: no pooling in the timed step);
    # logits [B, K, H, W] for the pixel-wise loss (K = 19 classes, Cityscapes-like maps).
    plan = []
    for op in ("rkd_distance", "rkd_angle", "gram", "cosine", "pdist", "sp", "cc_taylor", "irg_edge", "pkt"):
        for b in grid_b:
            if op == "rkd_angle" and b > 1024:
                continue
            for d in grid_d:
                plan.append((op, b, d, lambda b=b, d=d: (randn(b, d).float(), randn(b, d).float())))
    for b in grid_b:
        plan.append(("dist", b, 1000, lambda b=b: (randn(b, 1000).float(), 3 * randn(b, 1000).float())))   # ImageNet-like logits
    map_grid = [(64, 128, 16, 16), (128, 256, 8, 8)] if not o.quick else [(16, 64, 8, 8)]
    for bsz, c, h, w in map_grid:
        plan.append(("ickd", bsz, f"{c}x{h}x{w}", lambda bsz=bsz, c=c, h=h, w=w: (randn(bsz, c, h, w).float(), randn(bsz, c, h, w).float())))
        plan.append(("nst", bsz, f"{c}x{h}x{w}", lambda bsz=bsz, c=c, h=h, w=w: (randn(bsz, c, h, w).float(), randn(bsz, 2 * c, h, w).float())))
    for bsz, k, h, w in ([(8, 19, 128, 256), (16, 19, 256, 512)] if not o.quick else [(2, 19, 64, 64)]):
        for op in ("skd_ce", "skd_kl"):
            plan.append((op, bsz, f"{k}x{h}x{w}", lambda bsz=bsz, k=k, h=h, w=w: (randn(bsz, k, h, w).float(), 3 * randn(bsz, k, h, w).float())))
    for op, b, d, make in plan:
        if op not in ours:
            continue
        if time.perf_counter() - started > o.deadline_s:
            timing.append(f"{op},{b},{d},gpukd,SKIPPED,")
            timing.append(f"{op},{b},{d},pytorch,SKIPPED,")
            continue
        x, t = make()
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
            except Exception as e:   # noqa: BLE001 - a failing row is recorded, the run goes on
                timing.append(f"{op},{b},{d},{impl},ERROR {repr(e)[:80].replace(',', ';')},")
        print(timing[-2], "|", timing[-1], flush=True)
        del x, t
        if cuda:
            torch.cuda.empty_cache()
    with open(os.path.join(o.out, "timing.csv"), "w") as f:
        f.write("\n".join(timing) + "\n")
    summary = [f"validation: {passed} passed, {failed} failed", "", "| op | b | d | GpuKd ms | PyTorch ms | speed-up | memory ratio |", "|---|---|---|---|---|---|---|"]
    by = {}
    for line in timing[1:]:
        op, b, d, impl, ms, mem = line.split(",")
        by.setdefault((op, b, d), {})[impl] = (ms, mem)
    for (op, b, d), v in by.items():
        g, r = v.get("gpukd"), v.get("pytorch")
        if not g or not r or not all(_is_number(v[0]) for v in (g, r)):
            summary.append(f"| {op} | {b} | {d} | {g and g[0]} | {r and r[0]} | | |")
            continue
        summary.append(f"| {op} | {b} | {d} | {float(g[0]):.3f} | {float(r[0]):.3f} | {float(r[0]) / float(g[0]):.1f}× | "
                       f"{(int(g[1]) / max(int(r[1]), 1)):.3f} |")
    text = "\n".join(summary) + "\n"
    open(os.path.join(o.out, "summary.md"), "w").write(text)
    print(text)
    return 0 if failed == 0 else 1


def _is_number(text):
    try:
        float(text)
        return True
    except ValueError:
        return False


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception:
        traceback.print_exc()
        sys.exit(2)
