using GpuKd.Device;
using GpuKd.Kernels.Launch;
using GpuKd.Kernels.Programs;
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
/// On a device (CUDA in place, or ILGPU's CPU accelerator) it runs <see cref="SpPrograms{T}"/>: Grams and epilogues in
/// double, float32 always widened, the loss total on the device. Peak extra memory: O(b² + bD).
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
        long b = s.shape[0];
        double count = (double)b * b;
        if (PairOp.TryProgram(ctx, s, t, d => OnDevice<float>(d, ctx, s, t, count), d => OnDevice<double>(d, ctx, s, t, count)) is { } onDevice)
            return onDevice;
        var backend = CpuBackend.Instance;
        var epilogues = CpuLossEpilogues.Instance;
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
        if (OpBase.ProgramDevice(ctx) is { } dev)
        {
            double count = (double)saved[2].shape[0] * saved[2].shape[0];
            return OpBase.ByType(saved[0], () => BackwardOnDevice<float>(dev, ctx, saved, grad, count), () => BackwardOnDevice<double>(dev, ctx, saved, grad, count));
        }
        Tensor xs = saved[0], gs = saved[1], ns = saved[2], xt = saved[3], gt = saved[4], nt = saved[5], ms = saved[6], mt = saved[7];
        var backend = CpuBackend.Instance;
        var epilogues = CpuLossEpilogues.Instance;
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

    /// <summary>The program (<see cref="SpPrograms{T}"/>): saved per side X (float32: Xc; float64: the input rows), μ, G, norms.</summary>
    static Tensor OnDevice<T>(TorchDevice dev, autograd.AutogradContext ctx, Tensor student, Tensor teacher, double count)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        int b = (int)student.shape[0];
        Tensor xs = OpBase.DeviceRows(student), xt = OpBase.DeviceRows(teacher);
        var saved = new List<Tensor>();
        bool wide = typeof(T) == typeof(float);
        SpSide<T> Side(Tensor x)
        {
            int d = (int)x.shape[1];
            Buf<T> rows;
            if (wide) rows = dev.KeepInto<T>(saved, b, d);
            else { saved.Add(x); rows = dev.Bind<T>(x); }
            return new(rows, dev.KeepInto<T>(saved, wide ? d : 0), dev.KeepInto<double>(saved, b, b), dev.KeepInto<double>(saved, b));
        }
        var (loss, lossBuf) = dev.Keep<T>();
        using (dev.Sequence())
        {
            SpSide<T> ss = Side(xs), st = Side(xt);
            SpPrograms<T>.Forward(dev, dev.Bind<T>(xs), dev.Bind<T>(xt), ss, st, lossBuf, b, (int)xs.shape[1], (int)xt.shape[1], count);
        }
        ctx.save_for_backward([.. saved.Select(x => x.MoveToOuterDisposeScope())]);
        return loss;
    }

    static List<Tensor> BackwardOnDevice<T>(TorchDevice dev, autograd.AutogradContext ctx, IList<Tensor> s, Tensor grad, double count)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
        => PairOp.DeviceBackward<T, SpSide<T>>(dev, ctx, s, grad, perSide: 4, v => new SpSide<T>(dev.Bind<T>(v[0]), dev.Bind<T>(v[1]), dev.Bind<double>(v[2]), dev.Bind<double>(v[3])),
            (self, other, u, xb, b, dim) => SpPrograms<T>.Backward(dev, self, other, u, xb, b, dim, count), extraArguments: 0);
}
