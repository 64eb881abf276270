using GpuKd.Device;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Ops;

/// <summary>Helpers shared by the autograd functions.</summary>
internal static class OpBase
{
    /// <summary>x flattened to [b, D], contiguous: the CPU fast path's rows. CUDA tensors never take that path (they run
    /// the programs in place, <see cref="DeviceRows"/>); a non-CPU tensor here is a bug, not something to copy.</summary>
    public static Tensor Rows(Tensor x) => CpuOnly(x).reshape(x.shape[0], -1).contiguous();

    /// <summary>x itself, after checking it is a CPU tensor (the CPU fast path reads its memory).</summary>
    public static Tensor CpuOnly(Tensor x) => x.device_type == DeviceType.CPU ? x
        : throw new InvalidOperationException($"internal: the CPU fast path was given a tensor on {x.device}; device tensors run the programs");

    /// <summary>x flattened to [b, D], contiguous, where it is (the program path: no host copy).</summary>
    public static Tensor DeviceRows(Tensor x) => x.reshape(x.shape[0], -1).contiguous();

    /// <summary>Runs <paramref name="f32"/> or <paramref name="f64"/> for the element type of <paramref name="like"/>.</summary>
    public static TR ByType<TR>(Tensor like, Func<TR> f32, Func<TR> f64) => like.dtype == ScalarType.Float32 ? f32() : f64();

    /// <summary>Records what the backward needs to know about input x: whether it wants a
    /// gradient (TorchSharp has no needs_input_grad), its shape and its device.
    /// The backend chosen in the forward is recorded too: the backward may run on another
    /// thread, where a <see cref="gpukd.use_backend"/> scope does not reach.</summary>
    public static void SaveInput(autograd.AutogradContext ctx, Tensor x, CpuBackend? backend)
    {
        ctx.save_data("backend", (object?)backend ?? false);
        ctx.save_data("needs", x.requires_grad);
        ctx.save_data("shape", x.shape);
        ctx.save_data("device", x.device);
    }

    /// <summary>The backend the forward ran on.</summary>
    public static CpuBackend Backend(autograd.AutogradContext ctx) => ctx.get_data("backend") as CpuBackend ?? throw new InvalidOperationException("internal: the forward ran as a program");

    /// <summary>Records the program device the forward ran on (null: the CPU fast path).</summary>
    public static void SaveDevice(autograd.AutogradContext ctx, TorchDevice? dev) => ctx.save_data("programs", (object?)dev ?? false);

    /// <summary>The program device the forward ran on, or null for the CPU fast path.</summary>
    public static TorchDevice? ProgramDevice(autograd.AutogradContext ctx) => ctx.get_data("programs") as TorchDevice;

    /// <summary>True if the input recorded by <see cref="SaveInput"/> wants a gradient.</summary>
    public static bool Needs(autograd.AutogradContext ctx) => (bool)ctx.get_data("needs");

    /// <summary>The gradient for the input, shaped and placed like it.</summary>
    public static Tensor Like(autograd.AutogradContext ctx, Tensor grad)
        => grad.reshape((long[])ctx.get_data("shape")).to((torch.Device)ctx.get_data("device"));

    /// <summary>Centred rows Xc = X − mean and their Gram G = XcXcᵀ [b, b]: the start of every
    /// translation-invariant relation (distances, angles).</summary>
    public static (Tensor Centred, Tensor Gram) CentredGram(CpuBackend backend, Tensor x)
    {
        var centred = backend.Centre(Rows(x));
        var g = backend.Gram(centred.unsqueeze(0)).squeeze(0).contiguous();
        return (centred, g);
    }

    /// <summary>
    /// The angle ops' tables: centred rows, their Gram and the leg tables (inv, ginv) of
    /// <see cref="CpuBackend.Legs"/> (the CPU fast path; devices run the programs). For float32 the ψ differences of a
    /// loss whose student ≈ teacher are ~10⁻³ of ψ, so every rounding of ψ's numerator G_bc − G_ab − G_ac + G_aa counts:
    /// the GEMM's diagonal, a sum of D positive terms, carries ≈ √D times the round-off of an off-diagonal entry, any
    /// float32 diagonal is an error shared by all b² angles of its apex, and the leg lengths lose more in the float32
    /// Gram form. So the squared norms are summed in double, the leg lengths computed in double from them
    /// (<see cref="CpuBackend.LegsWide"/>, rounded once), and G becomes the pseudo-Gram of <c>AngleMath</c> (diagonal = the
    /// norms rounded once, off-diagonal shifted by their low parts: the same angles and distances, the diagonal's
    /// rounding moved into the √D-times smaller off-diagonal entries); the O(b³) passes stay float32 and form the
    /// numerator small terms first (in double they would cost ≈ 1.9× at b = 256). Extra: O(bD + b²) work, no memory.
    /// </summary>
    public static (Tensor Centred, Tensor Gram, Tensor Inv, Tensor GInv) AngleTables(CpuBackend backend, Tensor x, double tiny)
    {
        var (centred, g) = CentredGram(backend, x);
        if (centred.dtype != ScalarType.Float32)
        {
            var (inv, ginv) = backend.Legs(g, centred, tiny);
            return (centred, g, inv, ginv);
        }
        using var norms = backend.SquaredNormsWide(centred);
        var (invW, ginvW) = backend.LegsWide(g, centred, norms, tiny);
        backend.AngleGramWide(g, norms);   // the table the O(b³) passes read (kernels/Maths/AngleMath)
        return (centred, g, invW, ginvW);
    }

    /// <summary>
    /// The float32 path: X = Xc + 1μᵀ (μ the column means; x − μ is exact wherever x and μ are within a factor 2,
    /// as in features sharing a large offset), so G = XXᵀ = C + m1ᵀ + 1mᵀ + |μ|² with C = XcXcᵀ (the float32
    /// GEMM, its diagonal the squared norms summed in double), m = Xcμ and |μ|² in double. When the rows share
    /// a large offset or direction, G's information lies in C, a small part of each entry that a float32 G
    /// rounds away; here G is double (b² × 8 bytes) and the epilogues run in double.
    /// </summary>
    public static (Tensor Centred, Tensor Mean, Tensor Gram) WidenedGram(CpuBackend backend, Tensor x)
    {
        // One pass for μ, one for Xc with its double squared norms, m = Xcμ and the zero-row flags, the float32 GEMM, one
        // pass writing G (CpuBackend.WideGram). An exactly zero row of x: its row and column of XXᵀ are exact zeros, where
        // the reconstruction leaves rounding noise that the losses' row normalisations would blow up (SP: O(1) rows; CC: a
        // 1e16 loss). NaN rows are not zero.
        var (xc, mean, g, norms) = backend.WideGram(x, normalise: false, 0);
        norms.Dispose();
        return (xc, mean, g);
    }

    /// <summary>Above this ratio ‖μ‖² / mean_i ‖x_i − μ‖² (rows dominated by a shared offset or direction) SP's float32 Grams
    /// are widened (<see cref="WidenedGram"/>); below it a float32 Gram keeps the relations as well as the published
    /// float32 composition does (the same Gram) and within the 1e-4 bar, and the widening's extra passes would only cost
    /// time (measured: SP 1.2× → 0.8–0.9× of the reference at b = 64–256, D = 512, `./gpukd bench --quick`).
    /// Random or ReLU features sit near 0–1; the issue-15 classes (offset 100 spread 1, unit rows within a few degrees
    /// of one direction) at 10³–10⁴.</summary>
    public const double WidenOffsetRatio = GpuKd.Kernels.Programs.Widened.OffsetRatio;

    /// <summary>True when float32 rows x [b, D] share so large an offset or direction that their Gram needs the widened
    /// path (<see cref="WidenOffsetRatio"/>); NaN/Inf rows take the plain path (the result is non-finite either way).
    /// One pass over x on the CPU. On CUDA tensors it would read the host, so there it is always true.</summary>
    public static bool NeedsWidening(Tensor x)
    {
        if (x.dtype != ScalarType.Float32) return false;
        if (x.device_type != DeviceType.CPU) return true;
        if (x.numel() == 0) return false;
        var (mu2, meanSq) = CpuBackend.OffsetStats(x);
        double spread = meanSq - mu2;
        return double.IsFinite(mu2) && double.IsFinite(meanSq) && mu2 > WidenOffsetRatio * Math.Max(spread, 0);
    }

    /// <summary>X̄ = (Ḡ + Ḡᵀ)X; on the float32 path (Ḡ double, X = Xc + 1μᵀ) as (Ḡ + Ḡᵀ)Xc in float32 plus
    /// the row sums of Ḡ + Ḡᵀ (double) times μ.</summary>
    public static Tensor WidenedSymProduct(CpuBackend backend, Tensor gbar, Tensor x, Tensor mean)
    {
        if (gbar.dtype == x.dtype) return backend.SymProduct2(gbar, x);
        using var scope = NewDisposeScope();
        var sym = gbar + gbar.t();
        var xbar = backend.SymProductOfSymmetric(sym.to(x.dtype).mul_(0.5), x);   // (Ḡ + Ḡᵀ)Xc: halving is exact
        return xbar.addr_(sym.sum(1).to(x.dtype), mean).MoveToOuterDisposeScope();
    }

    /// <summary>Σ of a contiguous CPU tensor's elements in a fixed order, accumulated in double:
    /// the deterministic final reduction of the fused losses.</summary>
    public static double OrderedSum(Tensor t)
    {
        if (t.dtype == ScalarType.Float32) return Sum(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(t.bytes));
        var v = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, double>(t.bytes);
        double s = 0;
        foreach (var e in v) s += e;
        return s;

        // Widened to double, Vector<float>.Count lanes at a time: a fixed order for a given machine.
        static double Sum(ReadOnlySpan<float> v)
        {
            var lanes = System.Runtime.InteropServices.MemoryMarshal.Cast<float, System.Numerics.Vector<float>>(v);
            var lo = System.Numerics.Vector<double>.Zero;
            var hi = System.Numerics.Vector<double>.Zero;
            foreach (var l in lanes)
            {
                System.Numerics.Vector.Widen(l, out var a, out var b);
                lo += a;
                hi += b;
            }
            double s = System.Numerics.Vector.Sum(lo + hi);
            for (int k = lanes.Length * System.Numerics.Vector<float>.Count; k < v.Length; k++) s += v[k];
            return s;
        }
    }

    /// <summary>Upstream gradient as a contiguous CPU tensor of the op's dtype.</summary>
    public static Tensor Upstream(Tensor grad, ScalarType dtype) => CpuOnly(grad).to(dtype).contiguous();
}
