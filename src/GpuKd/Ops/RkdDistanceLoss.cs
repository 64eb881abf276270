using GpuKd.Device;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Ops;

/// <summary>
/// RKD distance loss (authors' code): ψ = pdist(x)/μ with μ the mean of the positive entries
/// (every off-diagonal one, m = b(b−1)), L = mean over b² of h(ψ^S − ψ^T), h = smooth-L1.
/// μ carries gradient on each side that requires one. Backward per side, with
/// r = ±h'(ψ^S − ψ^T)·upstream/b²: d̄ = r/μ − [i ≠ j](Σ r·d)/(m μ²), then the distance
/// backward (Ḡ) and one product. The loss epilogue is one fused pass per direction
/// (no b² temporaries). Saved per side: Xc (b×D) and d (b²).
/// Float32 inputs take the widened epilogue (<see cref="GpuKd.Kernels.Cpu.CpuWide"/>): squared norms summed in
/// double from Xc, d in double from them and the float32 GEMM's off-diagonal Gram, ψ, r and Ḡ in double, Ḡ
/// rounded to float32 for the one backward product. d is then held in double (b² × 8 bytes per side).
/// </summary>
internal sealed class RkdDistanceLoss : autograd.SingleTensorFunction<RkdDistanceLoss>
{
    public override string Name => "GpuKdRkdDistanceLoss";

    public static Tensor Apply(Tensor student, Tensor teacher, nn.Reduction reduction)
    {
        PairOp.Validate(student, teacher);
        PairOp.MinBatch(student, 2);
        Validate.ScalarReduction(reduction, nameof(reduction));
        return apply(Scaling.Invariant(student), Scaling.Invariant(teacher), reduction);   // each side's relation is scale-free
    }

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var (student, teacher, reduction) = ((Tensor)vars[0], (Tensor)vars[1], (nn.Reduction)vars[2]);
        using var scope = NewDisposeScope();
        var backend = KdRuntime.For(student);
        var (cs, ds, invMuS) = Side(backend, student);
        var (ct, dt, invMuT) = Side(backend, teacher);
        long b = student.shape[0];
        double count = reduction == nn.Reduction.Mean ? (double)b * b : 1.0;
        var loss = PairOp.Mean(backend.DistanceLossPartials(ds, dt, invMuS, invMuT), count, student);

        PairOp.SaveInputs(ctx, backend, student, teacher);
        ctx.save_data("count", count);
        ctx.save_data("invMu", (invMuS, invMuT));
        ctx.save_for_backward([.. new[] { cs, ds, ct, dt }.Select(t => t.MoveToOuterDisposeScope())]);
        return loss.MoveToOuterDisposeScope();
    }

    /// <summary>Centred rows, RKD pdist and 1/μ, μ the mean of the b(b−1) off-diagonal
    /// distances (the diagonal is exactly 0; every other entry is ≥ 1e-6), summed in order.</summary>
    static (Tensor Centred, Tensor Dist, double InvMu) Side(IKdBackend backend, Tensor x)
    {
        var (centred, g) = OpBase.CentredGram(backend, x);
        var dist = centred.dtype == ScalarType.Float32
            ? backend.DistanceForwardWide(g, centred, backend.SquaredNormsWide(centred), squared: false, PairwiseDistances.Clamp)
            : backend.DistanceForward(g, centred, squared: false, PairwiseDistances.Clamp);
        long b = dist.shape[0];
        return (centred, dist, (double)(b * (b - 1)) / OpBase.OrderedSum(dist));
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad)
    {
        using var scope = NewDisposeScope();
        var backend = OpBase.Backend(ctx);
        var s = ctx.get_saved_variables();
        Tensor cs = s[0], ds = s[1], ct = s[2], dt = s[3];
        var (invMuS, invMuT) = ((double, double))ctx.get_data("invMu");
        double scale = PairOp.Upstream(grad) / (double)ctx.get_data("count");

        // ∂L/∂ψ^T = h'(ψ^T − ψ^S)·scale: the student's formula with the sides swapped (h' is odd).
        Tensor? Side(int i, Tensor c, Tensor d, Tensor dO, double invMu, double invMuO)
        {
            if (!PairOp.Needs(ctx, i)) return null;
            var dbar = backend.DistanceLossBackward(d, dO, invMu, invMuO, scale);
            var gbar = backend.DistanceBackward(dbar, d, squared: false, PairwiseDistances.Clamp);
            if (gbar.dtype != c.dtype) gbar = gbar.to(c.dtype);   // the widened float32 path: Ḡ computed in double
            return PairOp.Like(ctx, i, backend.SymProduct2(gbar, c)).MoveToOuterDisposeScope();
        }
        return [Side(0, cs, ds, dt, invMuS, invMuT)!, Side(1, ct, dt, ds, invMuT, invMuS)!, null!];
    }
}
