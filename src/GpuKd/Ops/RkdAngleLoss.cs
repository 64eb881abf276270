using GpuKd.Device;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Ops;

/// <summary>
/// RKD angle loss, L = (1/b³) Σ_abc h(ψ^S_abc − ψ^T_abc), h = smooth-L1 (β = 1), without the
/// reference's b×b×D differences or b³ angle tensors (DESIGN §4, the flagship). Forward:
/// per side the centred Gram and the leg tables, then one streaming pass over (a, b, c) that
/// leaves b² partial sums. Backward: the three deterministic passes of the angle op with
/// ∂L/∂ψ recomputed from both sides' tables, then one product per side.
/// Saved: per side Xc (b×D), G, inv, ginv (b² each).
/// </summary>
internal sealed class RkdAngleLoss : autograd.SingleTensorFunction<RkdAngleLoss>
{
    public override string Name => "GpuKdRkdAngleLoss";

    public static Tensor Apply(Tensor student, Tensor teacher, nn.Reduction reduction)
    {
        PairOp.Validate(student, teacher);
        Validate.ScalarReduction(reduction, nameof(reduction));
        return apply(Scaling.Invariant(student), Scaling.Invariant(teacher), reduction);   // each side's relation is scale-free
    }

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var (student, teacher, reduction) = ((Tensor)vars[0], (Tensor)vars[1], (nn.Reduction)vars[2]);
        using var scope = NewDisposeScope();
        var backend = KdRuntime.For(student);
        var (cs, gs, invS, ginvS) = OpBase.AngleTables(backend, student, TripletAngles.Tiny);
        var (ct, gt, invT, ginvT) = OpBase.AngleTables(backend, teacher, TripletAngles.Tiny);
        long b = student.shape[0];
        double count = reduction == nn.Reduction.Mean ? (double)b * b * b : 1.0;
        var loss = PairOp.Mean(backend.AngleLossPartials(gs, invS, gt, invT), count, student);

        PairOp.SaveInputs(ctx, backend, student, teacher);
        ctx.save_data("count", count);
        ctx.save_for_backward([.. new[] { cs, gs, invS, ginvS, ct, gt, invT, ginvT }.Select(t => t.MoveToOuterDisposeScope())]);
        return loss.MoveToOuterDisposeScope();
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad)
    {
        using var scope = NewDisposeScope();
        var backend = OpBase.Backend(ctx);
        var s = ctx.get_saved_variables();
        Tensor cs = s[0], gs = s[1], invS = s[2], ginvS = s[3], ct = s[4], gt = s[5], invT = s[6], ginvT = s[7];
        double scale = PairOp.Upstream(grad) / (double)ctx.get_data("count");

        // ∂L/∂ψ^T = h'(ψ^T − ψ^S)·scale: the same pass with the sides swapped (h' is odd).
        Tensor? Side(int i, Tensor c, Tensor g, Tensor inv, Tensor ginv, Tensor gO, Tensor invO)
        {
            if (!PairOp.Needs(ctx, i)) return null;
            if (c.shape[1] == 1) return PairOp.Like(ctx, i, TripletAngles.OneDimensionalGradient(c, cO: i == 0 ? ct : cs, scale)).MoveToOuterDisposeScope();
            var gbar = backend.AngleLossBackward(g, inv, ginv, gO, invO, scale);
            return PairOp.Like(ctx, i, backend.SymProduct2(gbar, c)).MoveToOuterDisposeScope();
        }
        return [Side(0, cs, gs, invS, ginvS, gt, invT)!, Side(1, ct, gt, invT, ginvT, gs, invS)!, null!];
    }
}
