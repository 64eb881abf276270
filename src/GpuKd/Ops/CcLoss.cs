using GpuKd.Device;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Ops;

/// <summary>
/// Correlation-congruence KD loss, fused (DESIGN §4): per side X̂ = rows / max(‖row‖, ε) (skipped for the
/// raw bilinear kernel) and one Gram A = X̂X̂ᵀ; L = Σ (f(A^S) − f(A^T))² / b² in one row epilogue (K = f(A)
/// is never stored). Backward per side that wants a gradient: one elementwise epilogue
/// Ā = (2/b²)(f(A^self) − f(A^other)) f'(A^self), one product X̂̄ = (Ā + Āᵀ)X̂, then the normalisation's
/// backward. Saved: both A, and X̂ with its norms for each side that needs a gradient.
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
    static (Tensor Unit, Tensor Norms) Side(IKdBackend backend, Tensor x, bool raw)
    {
        var rows = OpBase.Rows(x);
        if (raw) return (rows, empty(0, dtype: rows.dtype));
        var norms = backend.RowNorms(rows);
        return (backend.ScaleRows(rows, norms, Eps), norms);
    }

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        Tensor s = (Tensor)vars[0], t = (Tensor)vars[1];
        var kernel = (CcKernel)(int)vars[2];
        var spec = CcSpec.Of(kernel, (double)vars[3], (int)vars[4]);
        bool raw = kernel == CcKernel.BilinearRaw;
        using var scope = NewDisposeScope();
        var backend = KdRuntime.For(s);
        var epilogues = LossEpilogues.For(backend);
        long b = s.shape[0];
        var (us, ns) = Side(backend, s, raw);
        var (ut, nt) = Side(backend, t, raw);
        var aS = backend.Gram2(us, bitSymmetric: false);
        var aT = backend.Gram2(ut, bitSymmetric: false);
        var loss = PairOp.Mean(epilogues.CcLossRows(aS, aT, spec), (double)b * b, s);
        PairOp.SaveInputs(ctx, backend, s, t);
        ctx.save_data("spec", spec);
        ctx.save_data("raw", raw);
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
        var backend = OpBase.Backend(ctx);
        var epilogues = LossEpilogues.For(backend);
        var spec = (CcSpec)ctx.get_data("spec");
        bool raw = (bool)ctx.get_data("raw");
        long b = saved[2].shape[0];
        double scale = 2.0 / ((double)b * b) * PairOp.Upstream(grad);

        Tensor SideGrad(int input, Tensor unit, Tensor norms, Tensor aSelf, Tensor aOther)
        {
            var abar = epilogues.CcBackward(aSelf, aOther, spec, scale);
            var ubar = backend.SymProduct2(abar, unit);
            var xbar = raw ? ubar : backend.NormalizeRowsBackward(ubar, unit, norms, Eps);
            return PairOp.Like(ctx, input, xbar).MoveToOuterDisposeScope();
        }

        var gradS = needS ? SideGrad(0, saved[0], saved[1], saved[2], saved[5]) : null;
        var gradT = needT ? SideGrad(1, saved[3], saved[4], saved[5], saved[2]) : null;
        return [gradS!, gradT!, null!, null!, null!];
    }
}
