using GpuKd.Device;
using GpuKd.Kernels.Launch;
using GpuKd.Kernels.Programs;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Ops;

/// <summary>
/// Correlation-congruence KD loss, fused (DESIGN §4): per side X̂ = rows / max(‖row‖, ε) (skipped for the
/// raw bilinear kernel) and one Gram A = X̂X̂ᵀ; L = Σ (f(A^S) − f(A^T))² / b² in one row epilogue (K = f(A)
/// is never stored). Backward per side that wants a gradient: one elementwise epilogue
/// Ā = (2/b²)(f(A^self) − f(A^other)) f'(A^self), one product X̂̄ = (Ā + Āᵀ)X̂, then the normalisation's
/// backward. Saved: both A, and X̂ with its norms for each side that needs a gradient.
/// On a device (CUDA in place, or ILGPU's CPU accelerator) it runs <see cref="CcPrograms{T}"/>: A and the epilogues in
/// double, float32 always widened (the raw kernel too), the loss total on the device. Peak extra memory: O(b² + bD).
/// CPU fast path, float32 normalised kernels: A in double from one float32 GEMM per side by fused SIMD passes
/// (<see cref="CpuBackend.WideGram"/>; rows centred only when they share a large offset, <see cref="OpBase.NeedsWidening"/>),
/// the backward epilogue in one pass (<see cref="CpuLossEpilogues.CcWideBackward"/>), one float32 GEMM back and one O(bD)
/// pass (<see cref="CpuBackend.WideGradRows"/>). Saved per side: A (b² doubles), and Xc (bD floats) with [norms | μ]
/// for a side that needs a gradient.
/// </summary>
internal sealed class CcLoss : autograd.SingleTensorFunction<CcLoss>
{
    internal const double Eps = 1e-12;

    public override string Name => "GpuKdCcLoss";

    public static Tensor Apply(Tensor student, Tensor teacher, CcKernel kernel, double gamma, int order)
    {
        PairOp.Validate(student, teacher);
        ValidateOptions(kernel, gamma, order);
        // Every kernel but the raw bilinear one normalises the features: scale-free per side.
        if (kernel != CcKernel.BilinearRaw) (student, teacher) = (Scaling.Invariant(student), Scaling.Invariant(teacher));
        return apply(student, teacher, (int)kernel, gamma, order);
    }

    /// <summary>The kernel options, checked before any work (also by the module's constructor).</summary>
    internal static void ValidateOptions(CcKernel kernel, double gamma, int order)
    {
        if (!Enum.IsDefined(kernel)) throw new ArgumentException($"kernel must be one of {string.Join(", ", Enum.GetNames<CcKernel>())}, got {(int)kernel}.", nameof(kernel));
        if (!(gamma >= 0) || double.IsInfinity(gamma)) throw new ArgumentException($"gamma must be a finite number ≥ 0, got {gamma}.", nameof(gamma));
        if (order < 0 || order > 64) throw new ArgumentException($"order must be in [0, 64], got {order}.", nameof(order));
    }

    /// <summary>Rows of x, normalised unless the kernel is raw; (unit rows, norms or an empty placeholder).</summary>
    static (Tensor Unit, Tensor Norms) Side(CpuBackend backend, Tensor x, bool raw)
    {
        var rows = OpBase.Rows(x);
        if (raw) return (rows, empty(0, dtype: rows.dtype));
        var norms = backend.RowNorms(rows);
        return (backend.ScaleRows(rows, norms, Eps), norms);
    }

    /// <summary>
    /// The float32 path of the normalised kernels: A_ij = G_ij s_i s_j with s = 1/max(‖x‖, eps), G = XXᵀ in double
    /// from centred rows and ‖x_i‖ = √G_ii (<see cref="CpuBackend.WideGram"/>: fused passes, one float32 GEMM). Rows close to
    /// one direction (a shared offset, near-collinear embeddings) keep their information in 1 − A, which float32 unit rows
    /// x/‖x‖ already round away (their cosines carry ~1e-7 absolute error against 1 − A ≈ 1e-4). Returns the centred rows,
    /// [norms | μ] in double (saved for the backward) and A in double (bit-symmetric).
    /// </summary>
    static (Tensor Centred, Tensor NormsAndMean, Tensor A) WideSide(CpuBackend backend, Tensor x)
    {
        // Centred only where the rows share a large offset or direction (OpBase.NeedsWidening, SP's gate): elsewhere μ = 0,
        // so a row far smaller than the mean (norms 1e-6 … 1e6 in one batch) is not rounded away by x − μ.
        var rows = OpBase.Rows(x);
        var (xc, mean, a, norms) = backend.WideGram(rows, normalise: true, Eps, centre: OpBase.NeedsWidening(rows));
        using (mean)
        using (norms)
        using (var mean64 = mean.to(ScalarType.Float64))
            return (xc, cat([norms, mean64]), a);
    }

    /// <summary>
    /// Backward of A = diag(s) G diag(s) (s = 1/max(n, eps), n = √diag G) on the float32 path, in double, with Ā never stored
    /// (<see cref="CpuLossEpilogues.CcWideBackward"/>, one pass): Ḡ_ij = Ā_ij s_i s_j, and where n_i &gt; eps
    /// Ḡ_ii −= c_i/(2n_i²) with c_i = Σ_j (Ā + Āᵀ)_ij A_ij; no gradient through an exactly zero row's normalisation. Then
    /// X̄ = (Ḡ + Ḡᵀ)X formed as one float32 product of Ḡ's symmetric half (rounded once) with Xc plus the double row sums
    /// times μ, keeping only the part of each row orthogonal to it (<see cref="CpuBackend.WideGradRows"/>): a loss of the
    /// unit rows x/‖x‖ has a gradient orthogonal to each row, exactly; the widened backward forms it as a difference of
    /// terms growing as 1/‖x_i‖ (Ḡ's off-diagonal part against its diagonal correction), whose float32 rounding leaves a
    /// radial residue — all of the result at D = 1 (5e-4 where the exact gradient is 0; the published float32 code gives
    /// ~1e-8). Removing x_i (x_i·x̄_i)/‖x_i‖² in double where ‖x_i‖ &gt; eps is exact maths and leaves the rest unchanged.
    /// </summary>
    static Tensor WideBackward(CpuBackend backend, CpuLossEpilogues epilogues, Tensor aSelf, Tensor aOther, CcSpec spec, double scale, Tensor xc, Tensor normsAndMean)
    {
        using var scope = NewDisposeScope();
        long b = aSelf.shape[0];
        var norms = normsAndMean.narrow(0, 0, b).contiguous();
        var mean = normsAndMean.narrow(0, b, normsAndMean.shape[0] - b).to(ScalarType.Float32).contiguous();
        var (h, rowSums) = epilogues.CcWideBackward(aSelf, aOther, norms, spec, scale, Eps);
        return backend.WideGradRows(h, rowSums, xc, mean, norms, tangent: true, Eps).MoveToOuterDisposeScope();
    }

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        Tensor s = (Tensor)vars[0], t = (Tensor)vars[1];
        var kernel = (CcKernel)(int)vars[2];
        var spec = CcSpec.Of(kernel, (double)vars[3], (int)vars[4]);
        bool raw = kernel == CcKernel.BilinearRaw;
        using var scope = NewDisposeScope();
        long b = s.shape[0];
        ctx.save_data("spec", spec);
        var f = new CcFunctionSpec(spec.Kind, spec.Order, spec.T, spec.C0);
        if (PairOp.TryProgram(ctx, s, t, d => OnDevice<float>(d, ctx, s, t, f), d => OnDevice<double>(d, ctx, s, t, f)) is { } onDevice)
            return onDevice;
        var backend = CpuBackend.Instance;
        var epilogues = CpuLossEpilogues.Instance;
        // Always widened for float32 (not gated like SP): CC's kernel of a small difference A_S − A_T loses the 1e-4 bar at
        // student ≈ teacher even on unstructured rows (1.1e-4 measured plain, b = 17, D = 1000).
        bool wide = s.dtype == ScalarType.Float32 && !raw;
        Tensor us, ns, ut, nt, aS, aT;
        if (wide)
        {
            (us, ns, aS) = WideSide(backend, s);
            (ut, nt, aT) = WideSide(backend, t);
        }
        else
        {
            (us, ns) = Side(backend, s, raw);
            (ut, nt) = Side(backend, t, raw);
            aS = backend.Gram2(us, bitSymmetric: false);
            aT = backend.Gram2(ut, bitSymmetric: false);
        }
        var loss = PairOp.Mean(epilogues.CcLossRows(aS, aT, spec), (double)b * b, s);
        PairOp.SaveInputs(ctx, backend, s, t);
        ctx.save_data("raw", raw);
        ctx.save_data("wide", wide);
        ctx.save_for_backward([PairOp.KeepIf(s.requires_grad, us).MoveToOuterDisposeScope(), PairOp.KeepIf(s.requires_grad, ns).MoveToOuterDisposeScope(), aS.MoveToOuterDisposeScope(),
                               PairOp.KeepIf(t.requires_grad, ut).MoveToOuterDisposeScope(), PairOp.KeepIf(t.requires_grad, nt).MoveToOuterDisposeScope(), aT.MoveToOuterDisposeScope()]);
        return loss.MoveToOuterDisposeScope();
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad)
    {
        bool needS = PairOp.Needs(ctx, 0), needT = PairOp.Needs(ctx, 1);
        if (!needS && !needT) return [null!, null!, null!, null!, null!];
        using var scope = NewDisposeScope();
        var saved = ctx.get_saved_variables();
        var spec = (CcSpec)ctx.get_data("spec");
        if (OpBase.ProgramDevice(ctx) is { } dev)
        {
            var f = new CcFunctionSpec(spec.Kind, spec.Order, spec.T, spec.C0);
            double count = (double)saved[3].shape[0] * saved[3].shape[0];
            return OpBase.ByType(saved[0], () => BackwardOnDevice<float>(dev, ctx, saved, grad, f, count), () => BackwardOnDevice<double>(dev, ctx, saved, grad, f, count));
        }
        var backend = CpuBackend.Instance;
        var epilogues = CpuLossEpilogues.Instance;
        bool raw = (bool)ctx.get_data("raw");
        bool wide = (bool)ctx.get_data("wide");
        long b = saved[2].shape[0];
        double scale = 2.0 / ((double)b * b) * PairOp.Upstream(grad);

        Tensor SideGrad(int input, Tensor unit, Tensor norms, Tensor aSelf, Tensor aOther)
        {
            if (wide) return PairOp.Like(ctx, input, WideBackward(backend, epilogues, aSelf, aOther, spec, scale, unit, norms)).MoveToOuterDisposeScope();
            var abar = epilogues.CcBackward(aSelf, aOther, spec, scale);
            var ubar = backend.SymProduct2(abar, unit);
            var xbar = raw ? ubar : backend.NormalizeRowsBackward(ubar, unit, norms, Eps);
            return PairOp.Like(ctx, input, xbar).MoveToOuterDisposeScope();
        }

        var gradS = needS ? SideGrad(0, saved[0], saved[1], saved[2], saved[5]) : null;
        var gradT = needT ? SideGrad(1, saved[3], saved[4], saved[5], saved[2]) : null;
        return [gradS!, gradT!, null!, null!, null!];
    }

    /// <summary>The program (<see cref="CcPrograms{T}"/>): saved per side X, μ, norms, A (see <see cref="CcSide{T}"/>).</summary>
    static Tensor OnDevice<T>(TorchDevice dev, autograd.AutogradContext ctx, Tensor student, Tensor teacher, CcFunctionSpec f)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        int b = (int)student.shape[0];
        Tensor xs = OpBase.DeviceRows(student), xt = OpBase.DeviceRows(teacher);
        bool wide = typeof(T) == typeof(float);
        var saved = new List<Tensor>();
        CcSide<T> Side(Tensor x)
        {
            int d = (int)x.shape[1];
            Buf<T> rows;
            if (f.Raw && !wide) { saved.Add(x); rows = dev.Bind<T>(x); }   // read in place
            else rows = dev.KeepInto<T>(saved, b, d);
            return new(rows, dev.KeepInto<T>(saved, wide ? d : 0), dev.KeepInto<double>(saved, f.Raw ? 0 : b), dev.KeepInto<double>(saved, b, b));
        }
        var (loss, lossBuf) = dev.Keep<T>();
        using (dev.Sequence())
        {
            CcSide<T> ss = Side(xs), st = Side(xt);
            CcPrograms<T>.Forward(dev, dev.Bind<T>(xs), dev.Bind<T>(xt), ss, st, lossBuf, b, (int)xs.shape[1], (int)xt.shape[1], f, (double)b * b);
        }
        ctx.save_for_backward([.. saved.Select(x => x.MoveToOuterDisposeScope())]);
        return loss;
    }

    static List<Tensor> BackwardOnDevice<T>(TorchDevice dev, autograd.AutogradContext ctx, IList<Tensor> s, Tensor grad, CcFunctionSpec f, double count)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
        => PairOp.DeviceBackward<T, CcSide<T>>(dev, ctx, s, grad, perSide: 4, v => new CcSide<T>(dev.Bind<T>(v[0]), dev.Bind<T>(v[1]), dev.Bind<double>(v[2]), dev.Bind<double>(v[3])),
            (self, other, u, xb, b, dim) => CcPrograms<T>.Backward(dev, self, other, u, xb, b, dim, f, count), extraArguments: 3);
}
