"""The library's op programs called in place from Python: the bindings of bench/GpuKd.KernelBench/InProcess/Exports.cs.

`Programs(app_dll, mode)` loads the .NET runtime (hostfxr_loader), initialises CUDA device 0 in its primary context
(mode "cuda": PyTorch's context) or ILGPU's CPU simulator over host memory (mode "cpu", the self-test that runs
without a GPU), and exposes one call per op program and phase. Every buffer is given as (pointer, element count);
the orders below are those of Exports.cs. The RKD distance loss keeps d and 1/μ in float64 for either input dtype
(its epilogue runs in double): its "dist"/"invmu" buffers are float64.
"""
import ctypes

from hostfxr_loader import DotnetHost

EXPORTS = "GpuKd.KernelBench.InProcess.Exports"

# op -> (forward method, backward method, forward buffers, forward ints, backward buffers, backward ints)
OPS = {
    "gram": ("GramF", "GramB", ["x", "g", "norms", "result"], ["b", "d", "normalize"],
             ["gbar", "x", "result", "norms", "xbar"], ["b", "d", "normalize"]),
    "cosine": ("CosF", "CosB", ["x", "norms", "unit", "a"], ["batch", "n", "c"],
               ["abar", "unit", "norms", "xbar"], ["batch", "n", "c"]),
    "pdist": ("PdF", "PdB", ["x", "xc", "dist"], ["b", "d", "squared"],
              ["dbar", "xc", "dist", "xbar"], ["b", "d", "squared"]),
    "triplet_angles": ("AnF", "AnB", ["x", "xc", "g", "inv", "ginv", "angles"], ["b", "d"],
                       ["rbar", "xc", "g", "inv", "ginv", "xbar"], ["b", "d"]),
    "rkd_distance": ("RdF", "RdB", ["xs", "xt", "s_xc", "s_dist", "s_invmu", "t_xc", "t_dist", "t_invmu", "loss"], ["b", "ds", "dt", "mean"],
                     ["self_xc", "self_dist", "self_invmu", "other_xc", "other_dist", "other_invmu", "upstream", "xbar"], ["b", "dim", "mean"]),
    "rkd_angle": ("RaF", "RaB", ["xs", "xt", "s_xc", "s_g", "s_inv", "s_ginv", "t_xc", "t_g", "t_inv", "t_ginv", "loss"], ["b", "ds", "dt", "mean"],
                  ["self_xc", "self_g", "self_inv", "self_ginv", "other_xc", "other_g", "other_inv", "other_ginv", "upstream", "xbar"], ["b", "dim", "mean"]),
}

ALLOC = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p)
FREE = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


class GpuKdError(RuntimeError):
    pass


class Programs:
    def __init__(self, app_dll, mode="cuda", ordinal=0):
        self.host = DotnetHost(app_dll)
        f = self.host.function
        self._init = f(EXPORTS, "Init", ctypes.c_int32, ctypes.c_int32, ctypes.c_int32)
        self._last_error = f(EXPORTS, "LastError", ctypes.c_int32, ctypes.c_char_p, ctypes.c_int32)
        self._set_allocator = f(EXPORTS, "SetAllocator", ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p)
        self._calls = {}
        for op, (fwd, bwd, *_rest) in OPS.items():
            for phase, method in (("forward", fwd), ("backward", bwd)):
                self._calls[(op, phase)] = f(EXPORTS, method, ctypes.c_int32, ctypes.c_int32,
                                             ctypes.POINTER(ctypes.c_int64), ctypes.c_int32, ctypes.c_void_p)
        self._check(self._init(0 if mode == "cuda" else 1, ordinal))
        self._keep = []

    def _check(self, rc):
        if rc != 0:
            buf = ctypes.create_string_buffer(4096)
            self._last_error(buf, len(buf))
            raise GpuKdError(buf.value.decode(errors="replace"))

    def set_allocator(self, alloc, free):
        """Temporaries through the caller's allocator: alloc(bytes, stream) -> pointer, free(pointer)."""
        a, f = ALLOC(alloc), FREE(free)
        self._keep += [a, f]
        self._check(self._set_allocator(ctypes.cast(a, ctypes.c_void_p), ctypes.cast(f, ctypes.c_void_p)))

    def call(self, op, phase, dtype, buffers, ints, stream=0):
        """buffers: {name: (pointer, count)} in any order (the op's order is taken from OPS); ints: {name: value}."""
        spec = OPS[op]
        names, int_names = (spec[2], spec[3]) if phase == "forward" else (spec[4], spec[5])
        flat = []
        for n in names:
            ptr, count = buffers[n]
            flat += [int(ptr), int(count)]
        flat += [int(ints[n]) for n in int_names]
        arr = (ctypes.c_int64 * len(flat))(*flat)
        self._check(self._calls[(op, phase)](0 if dtype == "float32" else 1, arr, len(flat), ctypes.c_void_p(stream)))
