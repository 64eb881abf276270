"""The library's op programs called in place from Python: the bindings of bench/GpuKd.KernelBench/InProcess/Exports.cs.

`Programs(app_dll, mode)` loads the .NET runtime (hostfxr_loader), initialises CUDA device 0 in its primary context
(mode "cuda": PyTorch's context) or ILGPU's CPU simulator over host memory (mode "cpu", the self-test that runs
without a GPU), and exposes one call per op program and phase. Every buffer is given as (pointer, element count);
the orders below are those of Exports.cs. The RKD distance loss keeps d and 1/μ in float64 for either input dtype
(its epilogue runs in double): its "dist"/"invmu" buffers are float64; so are SP's g/norms, CC's norms/a and the IRG
edge tables (see OPS). An integer option named "x:f" is a float64, passed as its bit pattern (give it as ints["x"]).
"""
import ctypes
import struct

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
    # SP: a side is x (float32: the centred rows, written; float64: the input rows themselves), mean (float32: [d]; float64: empty),
    # g [b, b] and norms [b], both float64 for either dtype.
    "sp": ("SpF", "SpB", ["xs", "xt", "s_x", "s_mean", "s_g", "s_norms", "t_x", "t_mean", "t_g", "t_norms", "loss"], ["b", "ds", "dt"],
           ["self_x", "self_mean", "self_g", "self_norms", "other_x", "other_mean", "other_g", "other_norms", "upstream", "xbar"], ["b", "dim"]),
    # CC: a side is x (float32: centred rows; float64: unit rows, or for kind 3 the input rows themselves), mean (float32 [d]),
    # norms (float64 [b], empty for kind 3) and a (float64 [b, b]). kind 0 Taylor-RBF, 1 exact RBF, 2 bilinear, 3 raw bilinear.
    "cc": ("CcF", "CcB", ["xs", "xt", "s_x", "s_mean", "s_norms", "s_a", "t_x", "t_mean", "t_norms", "t_a", "loss"], ["b", "ds", "dt", "kind", "order", "gamma:f"],
           ["self_x", "self_mean", "self_norms", "self_a", "other_x", "other_mean", "other_norms", "other_a", "upstream", "xbar"],
           ["b", "dim", "kind", "order", "gamma:f"]),
    # IRG edge: a side is xc [b, d] (input dtype), g [b, b], r (float64: xc itself again; float32: a [b, 1] column) and max [3], all float64.
    "irg_edge": ("EdF", "EdB", ["xs", "xt", "s_xc", "s_g", "s_r", "s_max", "t_xc", "t_g", "t_r", "t_max", "loss"], ["b", "ds", "dt"],
                 ["self_xc", "self_g", "self_r", "self_max", "other_xc", "other_g", "other_r", "other_max", "upstream", "xbar"],
                 ["b", "dim", "dim_other", "differentiate_max"]),
    # ICKD over maps [B, C, N]: a side is x (read in place), g [B, C, C], norms [B·C]. mean: / (C·B²), else the sum.
    "ickd": ("IcF", "IcB", ["s_x", "s_g", "s_norms", "t_x", "t_g", "t_norms", "loss"], ["batch", "c", "ns", "nt", "mean"],
             ["self_x", "self_g", "self_norms", "other_x", "other_g", "other_norms", "upstream", "xbar"], ["batch", "c", "n", "mean"]),
    # NST over maps of one size [B, C, N] (pool first): norms [B·n], unit [B, n, N], g [B, n, n], n = cs + ct; zbar [B, n, N].
    "nst": ("NsF", "NsB", ["xs", "xt", "norms", "unit", "g", "loss"], ["batch", "cs", "ct", "npix", "mean"],
            ["norms", "unit", "g", "upstream", "zbar"], ["batch", "cs", "ct", "npix", "mean"]),
    # PKT: a side is x (in place), norms [b], unit [b, d], s [b, b]; the backward takes both sides and teacher 0/1.
    "pkt": ("PkF", "PkB", ["s_x", "s_norms", "s_unit", "s_s", "t_x", "t_norms", "t_unit", "t_s", "loss"], ["b", "ds", "dt", "mean", "eps:f"],
            ["s_x", "s_norms", "s_unit", "s_s", "t_x", "t_norms", "t_unit", "t_s", "upstream", "xbar"], ["b", "ds", "dt", "teacher", "mean", "eps:f"]),
    # Structured KD pixel-wise over logits [B, K, P]: the forward writes gs, gt (empty: not written) and loss (1 element, or B·P for
    # reduction 2 = none); kl 0 = soft cross-entropy, 1 = temperature KL; reduction 0 mean, 1 sum, 2 none. Backward: result = g·upstream.
    "skd_pixelwise": ("SkF", "SkB", ["zs", "zt", "gs", "gt", "loss"], ["b", "k", "p", "kl", "reduction", "temperature:f"],
                      ["g", "upstream", "result"], ["b", "k", "p"]),
    # Structured KD pair-wise, the deferred route's direct-form fallback for one image xs [cs, n], xt [ct, n] (read in place):
    # flag (1 float64: 0 = the Gram form holds, nothing computed), the float64 column norms ns, nt; forward rows [n] = Σ_q D[q, p]²;
    # backward: d [n, m] scratch, then Σ_q x̂_q D[q, p] (student gs, negated for the teacher gt) into columns [goff, goff + m) of
    # [c, gstride] float64 blocks for p in [p0, p0 + m). offset 1: divide by norm + eps (the held norm), 0: by max(norm, eps).
    "skd_direct": ("SdF", "SdB", ["flag", "xs", "xt", "ns", "nt", "rows"], ["cs", "ct", "n", "offset", "eps:f"],
                   ["flag", "xs", "xt", "ns", "nt", "d", "gs", "gt"], ["cs", "ct", "n", "p0", "m", "gstride", "goff", "offset", "eps:f"]),
    # DIST over logits [b, K]: ys, yt [b, K] (the softmaxes), rows [5·b], cols [5·K] (statistics) kept for the backward; mean 1 the
    # published means (β, γ, τ as float64 bit patterns); the backward takes the kept tables and teacher 0/1.
    "dist": ("DiF", "DiB", ["zs", "zt", "ys", "yt", "rows", "cols", "loss"], ["b", "k", "mean", "beta:f", "gamma:f", "tau:f"],
             ["ys", "yt", "rows", "cols", "upstream", "zbar"], ["b", "k", "teacher", "mean", "beta:f", "gamma:f", "tau:f"]),
    # FSP, one pair of layers per side at one size (pool first): bot [B, Cb, N], top [B, Ct, N] read in place, d [B, Ct, Cb] kept;
    # the backward of one side (teacher 0/1) writes bot_bar / top_bar where given (an empty buffer: not written).
    "fsp": ("FsF", "FsB", ["bot_s", "top_s", "bot_t", "top_t", "d", "loss"], ["batch", "ct", "cb", "ns", "nt", "mean"],
            ["bot", "top", "d", "upstream", "bot_bar", "top_bar"], ["batch", "ct", "cb", "n", "teacher", "mean"]),
}

ALLOC = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p)
FREE = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


def _bits(value):
    """A float64 option as the int64 that holds its IEEE-754 bit pattern (Exports.Args.Double)."""
    return struct.unpack("<q", struct.pack("<d", float(value)))[0]


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
        flat += [_bits(ints[n[:-2]]) if n.endswith(":f") else int(ints[n]) for n in int_names]
        arr = (ctypes.c_int64 * len(flat))(*flat)
        self._check(self._calls[(op, phase)](0 if dtype == "float32" else 1, arr, len(flat), ctypes.c_void_p(stream)))
