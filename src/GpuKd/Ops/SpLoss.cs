using GpuKd.Device;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Ops;

/// <summary>
/// Similarity-preserving KD loss, fused (DESIGN §4): per side one Gram G̃ = XXᵀ and its row norms;
/// L = Σ_ij (G̃S_ij/max(nS_i,ε) − G̃T_ij/max(nT_i,ε))² / b² in one row epilogue (the normalised
/// matrices are never stored). Backward per side that wants a gradient: one epilogue builds
/// G̃̄ = normalisation-backward of (2/b²)(G^self − G^other) in one b×b buffer, then one product
/// X̄ = (G̃̄ + G̃̄ᵀ)X. Saved: both raw Grams, their norms, and the rows of each input that needs a gradient.
/// float32: the Gram in double from centred rows (<see cref="OpBase.WidenedGram"/>) and the epilogues in double
/// (saved Grams b² × 8 bytes per side; the rows saved are the centred rows and their mean).
/// </summary>
internal sealed class SpLoss : autograd.SingleTensorFunction<SpLoss>
{
    /// <summary>F.normalize's eps on the Gram rows.</summary>
    internal const double Eps = 1e-12;

    public override string Name => "GpuKdSpLoss";

    public static Tensor Apply(Tensor student, Tensor teacher)
    {
        PairOp.Validate(student, teacher);
        return apply(Scaling.Invariant(student), Scaling.Invariant(teacher));   // each side's normalised Gram is scale-free
    }

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        Tensor s = (Tensor)vars[0], t = (Tensor)vars[1];
        using var scope = NewDisposeScope();
        var backend = KdRuntime.For(s);
        var epilogues = LossEpilogues.For(backend);
        long b = s.shape[0];
        var xs = OpBase.Rows(s);
        var xt = OpBase.Rows(t);
        Tensor gs, gt, ms, mt;
        if (OpBase.NeedsWidening(xs) || OpBase.NeedsWidening(xt))   // float32 rows dominated by a shared offset/direction
        {
            (xs, ms, gs) = OpBase.WidenedGram(backend, xs);
            (xt, mt, gt) = OpBase.WidenedGram(backend, xt);
        }
        else
        {
            (ms, mt) = (empty(0, dtype: xs.dtype), empty(0, dtype: xs.dtype));
            gs = backend.Gram2(xs, bitSymmetric: false);
            gt = backend.Gram2(xt, bitSymmetric: false);
        }
        var ns = backend.RowNorms(gs);
        var nt = backend.RowNorms(gt);
        var loss = PairOp.Mean(epilogues.SpLossRows(gs, ns, gt, nt, Eps), (double)b * b, s);
        PairOp.SaveInputs(ctx, backend, s, t);
        ctx.save_for_backward([PairOp.KeepIf(s.requires_grad, xs).MoveToOuterDisposeScope(), gs.MoveToOuterDisposeScope(), ns.MoveToOuterDisposeScope(),
                               PairOp.KeepIf(t.requires_grad, xt).MoveToOuterDisposeScope(), gt.MoveToOuterDisposeScope(), nt.MoveToOuterDisposeScope(),
                               ms.MoveToOuterDisposeScope(), mt.MoveToOuterDisposeScope()]);
        return loss.MoveToOuterDisposeScope();
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad)
    {
        bool needS = PairOp.Needs(ctx, 0), needT = PairOp.Needs(ctx, 1);
        if (!needS && !needT) return [null!, null!];
        using var scope = NewDisposeScope();
        var saved = ctx.get_saved_variables();
        Tensor xs = saved[0], gs = saved[1], ns = saved[2], xt = saved[3], gt = saved[4], nt = saved[5], ms = saved[6], mt = saved[7];
        var backend = OpBase.Backend(ctx);
        var epilogues = LossEpilogues.For(backend);
        long b = gs.shape[0];
        double scale = 2.0 / ((double)b * b) * PairOp.Upstream(grad);
        Tensor? gradS = null, gradT = null;
        if (needS)
        {
            var gbar = epilogues.SpBackward(gs, ns, gt, nt, Eps, scale);
            gradS = PairOp.Like(ctx, 0, OpBase.WidenedSymProduct(backend, gbar, xs, ms)).MoveToOuterDisposeScope();
        }
        if (needT)
        {
            var gbar = epilogues.SpBackward(gt, nt, gs, ns, Eps, scale);
            gradT = PairOp.Like(ctx, 1, OpBase.WidenedSymProduct(backend, gbar, xt, mt)).MoveToOuterDisposeScope();
        }
        return [gradS!, gradT!];
    }
}
