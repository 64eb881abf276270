using GpuKd.Device;
using GpuKd.Kernels.Cpu;
using GpuKd.Kernels.Launch;
using GpuKd.Kernels.Programs;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Ops;

/// <summary>
/// ICKD (Liu et al., ICCV 2021; torchdistill's <c>ChSimLoss.batch_loss</c>): per image the channel Gram
/// G = F Fᵀ of the flattened map F [C, N], rows divided by max(‖row‖, 1e-12), L = Σ (Ĝ_S − Ĝ_T)² / (C·B²) (Mean) or
/// the plain Σ (Sum). The normalised Grams are never stored: the SP-KD row epilogue recomputes them from G and the
/// norms. Backward per side that wants a gradient: one [B, C, C] buffer Ḡ (normalisation backward of the residual),
/// then X̄ = (Ḡ + Ḡᵀ)X per image — one batched product where the composition's bmm backward does two.
/// On a device (CUDA in place, or ILGPU's CPU accelerator) it runs <see cref="IckdPrograms{T}"/>; on CPU tensors by
/// default libtorch's bmm and the SIMD row epilogues (<see cref="CpuSp"/>).
/// Saved: per side the raw Grams [B, C, C] and their norms [B·C], and the maps of each side that needs a gradient.
/// </summary>
internal sealed unsafe class IckdLoss : autograd.SingleTensorFunction<IckdLoss>
{
    internal const double Eps = IckdPrograms<float>.Eps;

    public override string Name => "GpuKdIckdLoss";

    public static Tensor Apply(Tensor student, Tensor teacher, nn.Reduction reduction)
    {
        PairOp.Validate(student, teacher, "student_feat", "teacher_feat");
        if (teacher.shape[1] != student.shape[1])
            throw new ArgumentException($"teacher_feat must have the channels of student_feat ({student.shape[1]}): ICKD compares the two C×C " +
                                        $"channel-correlation matrices entry by entry (project the student first), got shape [{string.Join(", ", teacher.shape)}].", "teacher_feat");
        Validate.ScalarReduction(reduction, "reduction");
        return apply(Scaling.Invariant(student), Scaling.Invariant(teacher), reduction);   // each side's normalised Gram is scale-free
    }

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var (s, t, reduction) = ((Tensor)vars[0], (Tensor)vars[1], (nn.Reduction)vars[2]);
        using var scope = NewDisposeScope();
        long b = s.shape[0], c = s.shape[1];
        double count = reduction == nn.Reduction.Mean ? (double)c * b * b : 1.0;
        ctx.save_data("count", count);
        var dev = KdRuntime.Programs(s);
        OpBase.SaveDevice(ctx, dev);
        PairOp.SaveInputs(ctx, null, s, t);
        var xs = s.reshape(b, c, -1).contiguous();
        var xt = t.reshape(b, c, -1).contiguous();
        if (dev is not null)
            return OpBase.ByType(s, () => OnDevice<float>(dev, ctx, xs, xt, count), () => OnDevice<double>(dev, ctx, xs, xt, count)).MoveToOuterDisposeScope();

        var gs = xs.bmm(xs.transpose(1, 2));
        var gt = xt.bmm(xt.transpose(1, 2));
        int rows = (int)(b * c), n = (int)c;
        var ns = empty(rows, dtype: s.dtype);
        var nt = empty(rows, dtype: s.dtype);
        var partial = empty(rows, dtype: s.dtype);
        if (s.dtype == ScalarType.Float32)
        {
            CpuRows.RowNorms(P<float>(gs), P<float>(ns), rows, n);
            CpuRows.RowNorms(P<float>(gt), P<float>(nt), rows, n);
            CpuSp.LossRows(P<float>(gs), P<float>(ns), P<float>(gt), P<float>(nt), P<float>(partial), rows, n, (float)Eps);
        }
        else
        {
            CpuRows.RowNorms(P<double>(gs), P<double>(ns), rows, n);
            CpuRows.RowNorms(P<double>(gt), P<double>(nt), rows, n);
            CpuSp.LossRows(P<double>(gs), P<double>(ns), P<double>(gt), P<double>(nt), P<double>(partial), rows, n, Eps);
        }
        var loss = PairOp.Mean(partial, count, s);
        ctx.save_for_backward([PairOp.KeepIf(s.requires_grad, xs).MoveToOuterDisposeScope(), gs.MoveToOuterDisposeScope(), ns.MoveToOuterDisposeScope(),
                               PairOp.KeepIf(t.requires_grad, xt).MoveToOuterDisposeScope(), gt.MoveToOuterDisposeScope(), nt.MoveToOuterDisposeScope()]);
        return loss.MoveToOuterDisposeScope();
    }

    static T* P<T>(Tensor x) where T : unmanaged => TensorMemory.Ptr<T>(x);

    static Tensor OnDevice<T>(TorchDevice dev, autograd.AutogradContext ctx, Tensor xs, Tensor xt, double count)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        int b = (int)xs.shape[0], c = (int)xs.shape[1], ns = (int)xs.shape[2], nt = (int)xt.shape[2];
        var (loss, lossBuf) = dev.Keep<T>();
        Tensor gs, normS, gt, normT;
        using (dev.Sequence())
        {
            Buf<T> gsb, nsb, gtb, ntb;
            (gs, gsb) = dev.Keep<T>(b, c, c);
            (normS, nsb) = dev.Keep<T>(b * c);
            (gt, gtb) = dev.Keep<T>(b, c, c);
            (normT, ntb) = dev.Keep<T>(b * c);
            IckdPrograms<T>.Forward(dev, new(dev.Bind<T>(xs), gsb, nsb), new(dev.Bind<T>(xt), gtb, ntb), lossBuf, b, c, ns, nt, count);
        }
        ctx.save_for_backward([.. new[] { xs, gs, normS, xt, gt, normT }.Select(x => x.MoveToOuterDisposeScope())]);
        return loss;
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad)
    {
        bool needS = PairOp.Needs(ctx, 0), needT = PairOp.Needs(ctx, 1);
        if (!needS && !needT) return [null!, null!, null!];
        using var scope = NewDisposeScope();
        var saved = ctx.get_saved_variables();
        double count = (double)ctx.get_data("count");
        if (OpBase.ProgramDevice(ctx) is { } dev)
            return OpBase.ByType(saved[1], () => BackwardOnDevice<float>(dev, ctx, saved, grad, count), () => BackwardOnDevice<double>(dev, ctx, saved, grad, count));

        Tensor xs = saved[0], gs = saved[1], ns = saved[2], xt = saved[3], gt = saved[4], nt = saved[5];
        double scale = 2.0 / count * PairOp.Upstream(grad);
        Tensor Side(Tensor x, Tensor g, Tensor n, Tensor gO, Tensor nO)
        {
            int rows = (int)n.shape[0], c = (int)g.shape[1];
            var gbar = empty_like(g);
            if (g.dtype == ScalarType.Float32)
                CpuSp.BackwardRows(P<float>(g), P<float>(n), P<float>(gO), P<float>(nO), P<float>(gbar), rows, c, (float)Eps, (float)scale);
            else
                CpuSp.BackwardRows(P<double>(g), P<double>(n), P<double>(gO), P<double>(nO), P<double>(gbar), rows, c, Eps, scale);
            using var sym = gbar + gbar.transpose(1, 2);
            return sym.bmm(x);
        }
        Tensor? gradS = needS ? PairOp.Like(ctx, 0, Side(xs, gs, ns, gt, nt)).MoveToOuterDisposeScope() : null;
        Tensor? gradT = needT ? PairOp.Like(ctx, 1, Side(xt, gt, nt, gs, ns)).MoveToOuterDisposeScope() : null;
        return [gradS!, gradT!, null!];
    }

    static List<Tensor> BackwardOnDevice<T>(TorchDevice dev, autograd.AutogradContext ctx, IList<Tensor> s, Tensor grad, double count)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var up = grad.to(TorchDevice.DType<T>()).contiguous();
        var result = new Tensor?[2];
        using (dev.Sequence())
        {
            var sides = new IckdSide<T>[2];
            for (int k = 0; k < 2; k++) sides[k] = new(dev.Bind<T>(s[3 * k]), dev.Bind<T>(s[3 * k + 1]), dev.Bind<T>(s[3 * k + 2]));
            var upBuf = dev.Bind<T>(up);
            for (int k = 0; k < 2; k++)
            {
                if (!PairOp.Needs(ctx, k)) continue;
                var x = s[3 * k];
                int b = (int)x.shape[0], c = (int)x.shape[1], n = (int)x.shape[2];
                var (xbar, xbarBuf) = dev.Keep<T>(b, c, n);
                IckdPrograms<T>.Backward(dev, sides[k], sides[1 - k], upBuf, xbarBuf, b, c, n, count);
                result[k] = xbar;
            }
        }
        return [.. result.Select((r, k) => r is null ? null! : PairOp.Like(ctx, k, r).MoveToOuterDisposeScope()), null!];
    }
}
