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
        if (xs.dtype == ScalarType.Float32)
        {
            (xs, ms, gs) = Widened(backend, xs);
            (xt, mt, gt) = Widened(backend, xt);
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

    /// <summary>
    /// The float32 path: X = Xc + 1μᵀ (μ the column means; x − μ is exact wherever x and μ are within a factor 2,
    /// as in features sharing a large offset), so G = XXᵀ = C + m1ᵀ + 1mᵀ + |μ|² with C = XcXcᵀ (the float32
    /// GEMM, its diagonal the squared norms summed in double), m = Xcμ and |μ|² in double. When the rows share
    /// a large offset or direction, G's information lies in C, a small part of each entry that a float32 G
    /// rounds away; here G is double (b² × 8 bytes) and the epilogues run in double.
    /// </summary>
    static (Tensor Centred, Tensor Mean, Tensor Gram) Widened(IKdBackend backend, Tensor x)
    {
        using var scope = NewDisposeScope();
        var mean = x.mean([0L]);
        var xc = x - mean;
        var g = backend.Gram2(xc, bitSymmetric: false).to(ScalarType.Float64);
        g.diagonal().copy_(backend.SquaredNormsWide(xc));
        var mean64 = mean.to(ScalarType.Float64);
        var m = backend.RowDotsWide(xc, mean64);
        g.add_(m.unsqueeze(1)).add_(m.unsqueeze(0)).add_(mean64.dot(mean64));
        return (xc.MoveToOuterDisposeScope(), mean.MoveToOuterDisposeScope(), g.MoveToOuterDisposeScope());
    }

    /// <summary>X̄ = (Ḡ + Ḡᵀ)X; on the float32 path (Ḡ double, X = Xc + 1μᵀ) as (Ḡ + Ḡᵀ)Xc in float32 plus
    /// the row sums of Ḡ + Ḡᵀ (double) times μ.</summary>
    static Tensor Product(IKdBackend backend, Tensor gbar, Tensor x, Tensor mean)
    {
        if (gbar.dtype == x.dtype) return backend.SymProduct2(gbar, x);
        using var scope = NewDisposeScope();
        var sym = gbar + gbar.t();
        var xbar = backend.SymProductOfSymmetric(sym.to(x.dtype).mul_(0.5), x);   // (Ḡ + Ḡᵀ)Xc: halving is exact
        return xbar.addr_(sym.sum(1).to(x.dtype), mean).MoveToOuterDisposeScope();
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
            gradS = PairOp.Like(ctx, 0, Product(backend, gbar, xs, ms)).MoveToOuterDisposeScope();
        }
        if (needT)
        {
            var gbar = epilogues.SpBackward(gt, nt, gs, ns, Eps, scale);
            gradT = PairOp.Like(ctx, 1, Product(backend, gbar, xt, mt)).MoveToOuterDisposeScope();
        }
        return [gradS!, gradT!];
    }
}
