#!/usr/bin/env python3
"""Self-test of the in-process host without a GPU or PyTorch: loads the .NET runtime into Python (hostfxr),
runs the op programs on ILGPU's CPU simulator over ctypes arrays, and checks each forward against a plain-Python
float64 reference and each backward against central differences of that forward (b = 4, D = 3).
Usage: python3 bench/gpu/inprocess_selftest.py PATH/TO/GpuKd.KernelBench.dll   → prints "N passed, M failed".
"""
import ctypes
import math
import random
import sys

from gpukd_inprocess import Programs

B, D, DT = 4, 3, 5


def arr(values):
    a = (ctypes.c_double * max(len(values), 1))(*values)
    return a


_alive = []


def buf(a, n=None):
    _alive.append(a)   # the caller may pass a temporary: keep it alive, the kernels write into it
    return (ctypes.addressof(a), len(a) if n is None else n)


def zeros(n):
    return (ctypes.c_double * max(n, 1))()


def pdist(x, b, d):
    out = [0.0] * (b * b)
    for i in range(b):
        for j in range(b):
            if i != j:
                out[i * b + j] = math.sqrt(max(sum((x[i * d + k] - x[j * d + k]) ** 2 for k in range(d)), 1e-12))
    return out


def smooth_l1(z):
    z = abs(z)
    return 0.5 * z * z if z < 1 else z - 0.5


def rkd_distance_ref(s, t, b, ds, dt):
    a, c = pdist(s, b, ds), pdist(t, b, dt)
    ma = sum(v for v in a if v > 0) / sum(1 for v in a if v > 0)
    mc = sum(v for v in c if v > 0) / sum(1 for v in c if v > 0)
    return sum(smooth_l1(x / ma - y / mc) for x, y in zip(a, c)) / (b * b)


def angles(x, b, d):
    out = []
    for a in range(b):
        for i in range(b):
            for j in range(b):
                u = [x[i * d + k] - x[a * d + k] for k in range(d)]
                v = [x[j * d + k] - x[a * d + k] for k in range(d)]
                nu, nv = math.sqrt(sum(e * e for e in u)), math.sqrt(sum(e * e for e in v))
                out.append(0.0 if nu == 0 or nv == 0 else sum(p * q for p, q in zip(u, v)) / (max(nu, 1e-12) * max(nv, 1e-12)))
    return out


def rkd_angle_ref(s, t, b, ds, dt):
    return sum(smooth_l1(p - q) for p, q in zip(angles(s, b, ds), angles(t, b, dt))) / b ** 3


def main(dll):
    p = Programs(dll, mode="cpu")
    rng = random.Random(7)
    s = [rng.gauss(0, 1) for _ in range(B * D)]
    t = [rng.gauss(0, 1) for _ in range(B * DT)]
    passed = failed = 0

    def check(name, ok, detail):
        nonlocal passed, failed
        print(f"  {name:<34} {'PASS' if ok else 'FAIL'}  {detail}")
        passed += ok
        failed += not ok

    # Gram: value.
    x = arr(s); g = zeros(B * B)
    p.call("gram", "forward", "float64", {"x": buf(x), "g": buf(g), "norms": buf(zeros(B)), "result": buf(g)}, {"b": B, "d": D, "normalize": 0})
    ref = [sum(s[i * D + k] * s[j * D + k] for k in range(D)) for i in range(B) for j in range(B)]
    err = max(abs(a - r) for a, r in zip(g, ref))
    check("gram forward", err < 1e-12, f"max err {err:.1e}")

    # pdist: value.
    dist = zeros(B * B)
    p.call("pdist", "forward", "float64", {"x": buf(x), "xc": buf(zeros(B * D)), "dist": buf(dist)}, {"b": B, "d": D, "squared": 0})
    err = max(abs(a - r) for a, r in zip(dist, pdist(s, B, D)))
    check("pdist forward", err < 1e-12, f"max err {err:.1e}")

    # The two RKD losses: value, and the student gradient against central differences of the program's own forward.
    def sides(kind, d):
        return [zeros(B * d), zeros(B * B), zeros(1)] if kind == "rkd_distance" else [zeros(B * d), zeros(B * B), zeros(B * B), zeros(B * B)]

    def forward(kind, sv):
        xs, xt, loss = arr(sv), arr(t), zeros(1)
        ss, ts = sides(kind, D), sides(kind, DT)
        names = ["xc", "dist", "invmu"] if kind == "rkd_distance" else ["xc", "g", "inv", "ginv"]
        bufs = {"xs": buf(xs), "xt": buf(xt), "loss": buf(loss, 1)}
        for prefix, side in (("s", ss), ("t", ts)):
            for n, a in zip(names, side):
                bufs[f"{prefix}_{n}"] = buf(a, 1 if n == "invmu" else None)
        p.call(kind, "forward", "float64", bufs, {"b": B, "ds": D, "dt": DT, "mean": 1})
        return loss[0], ss, ts, names

    for kind, ref_fn in (("rkd_distance", rkd_distance_ref), ("rkd_angle", rkd_angle_ref)):
        value, ss, ts, names = forward(kind, s)
        r = ref_fn(s, t, B, D, DT)
        check(f"{kind} forward", abs(value - r) <= 1e-12 * max(1, abs(r)), f"{value:.12g} vs {r:.12g}")
        up, xbar = arr([1.0]), zeros(B * D)
        bufs = {"upstream": buf(up, 1), "xbar": buf(xbar)}
        for prefix, side in (("self", ss), ("other", ts)):
            for n, a in zip(names, side):
                bufs[f"{prefix}_{n}"] = buf(a, 1 if n == "invmu" else None)
        p.call(kind, "backward", "float64", bufs, {"b": B, "dim": D, "mean": 1})
        h, worst = 1e-6, 0.0
        for k in range(B * D):
            sp, sm = list(s), list(s)
            sp[k] += h; sm[k] -= h
            fd = (forward(kind, sp)[0] - forward(kind, sm)[0]) / (2 * h)
            worst = max(worst, abs(fd - xbar[k]))
        check(f"{kind} backward vs central diff.", worst < 1e-7, f"max err {worst:.1e}")

    # An error comes back as an exception with the library's message, and the host stays usable.
    try:
        p.call("gram", "forward", "float64", {"x": buf(x), "g": buf(zeros(1)), "norms": buf(zeros(B)), "result": buf(zeros(1))}, {"b": B, "d": D, "normalize": 0})
        check("bad buffer size refused", False, "no error")
    except Exception as e:
        check("bad buffer size refused", "needed" in str(e), str(e)[:80])
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
