using GpuKd.Device;
using GpuKd.Kernels.Cpu;
using GpuKd.Kernels.Programs;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Ops;

/// <summary>
/// NST with the polynomial kernel (RepDistiller <c>NSTLoss.nst_loss</c>, <c>full_loss = True</c>):
/// L = mean K(T̂, T̂).detach() + mean K(Ŝ, Ŝ) − 2 mean K(Ŝ, T̂), K(a, b)_ij = (a_i·b_j)², Ŝ, T̂ the channels of the
/// (pooled) maps L2-normalised over the pixels. Computed from one Gram of the stacked unit channels per image
/// (<see cref="NstPrograms{T}"/>): O(B·(Cs+Ct)²) memory where the published code forms [B, C, C, H·W] products.
/// The pooling of the larger map is libtorch's adaptive average pool (its own autograd) before this op.
/// Saved: the unit rows [B, Cs+Ct, N], their norms and the Gram [B, Cs+Ct, Cs+Ct].
/// </summary>
internal sealed unsafe class NstLoss : autograd.SingleTensorFunction<NstLoss>
{
    internal const double Eps = NstPrograms<float>.Eps;

    public override string Name => "GpuKdNstLoss";

    public static Tensor Apply(Tensor student, Tensor teacher, nn.Reduction reduction)
    {
        PairOp.Validate(student, teacher, "student_feat", "teacher_feat", minRank: 4);
        foreach (var (x, name) in new[] { (student, "student_feat"), (teacher, "teacher_feat") })
            if (x.dim() != 4) throw new ArgumentException($"{name} must be a map [B, C, H, W], got shape [{string.Join(", ", x.shape)}].", name);
        Validate.ScalarReduction(reduction, "reduction");
        using var scope = NewDisposeScope();
        (student, teacher) = PoolToSmaller(student, teacher, "teacher_feat");
        return apply(Scaling.Invariant(student), Scaling.Invariant(teacher), reduction).MoveToOuterDisposeScope();
    }

    /// <summary>RepDistiller's rule: the map with the larger H is adaptive-average-pooled to the other's size (published:
    /// to (H, H); here to (H, W), the same wherever the published code runs — the smaller map square); equal H needs
    /// equal W (the published code would fail to multiply).</summary>
    internal static (Tensor S, Tensor T) PoolToSmaller(Tensor s, Tensor t, string teacherName)
    {
        long hs = s.shape[2], ws = s.shape[3], ht = t.shape[2], wt = t.shape[3];
        if (hs > ht) s = nn.functional.adaptive_avg_pool2d(s, [ht, wt]);
        else if (hs < ht) t = nn.functional.adaptive_avg_pool2d(t, [hs, ws]);
        else if (ws != wt)
            throw new ArgumentException($"{teacherName} must have the spatial size of the student's map when their heights are equal ({hs}×{ws}), got {ht}×{wt}: " +
                                        "the published code pools only by height.", teacherName);
        return (s, t);
    }

    /// <summary>(ws, wst, wt): the weights of G² on the ss, cross and tt blocks — the published means, or 1, −1, 1 for Sum.</summary>
    internal static (double Ws, double Wst, double Wt) Weights(long b, long cs, long ct, nn.Reduction reduction)
        => reduction == nn.Reduction.Mean ? (1.0 / (b * cs * cs), -1.0 / ((double)b * cs * ct), 1.0 / (b * ct * ct)) : (1, -1, 1);

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var (s, t, reduction) = ((Tensor)vars[0], (Tensor)vars[1], (nn.Reduction)vars[2]);
        using var scope = NewDisposeScope();
        long b = s.shape[0], cs = s.shape[1], ct = t.shape[1], npix = s.shape[2] * s.shape[3];
        int n = (int)(cs + ct);
        var (ws, wst, wt) = Weights(b, cs, ct, reduction);
        ctx.save_data("weights", (ws, wst));
        var dev = KdRuntime.Programs(s);
        OpBase.SaveDevice(ctx, dev);
        PairOp.SaveInputs(ctx, null, s, t);
        if (dev is not null)
        {
            Tensor xs = s.reshape(b, cs, npix).contiguous(), xt = t.reshape(b, ct, npix).contiguous();
            return OpBase.ByType(s, () => OnDevice<float>(dev, ctx, xs, xt, ws, wst, wt), () => OnDevice<double>(dev, ctx, xs, xt, ws, wst, wt))
                .MoveToOuterDisposeScope();
        }
        // CPU fast path: raw Grams of the maps (no normalised copy), the normalisation folded into the epilogues.
        Tensor xsC = s.reshape(b, cs, npix).contiguous(), xtC = t.reshape(b, ct, npix).contiguous();
        var ns = RowNorms(xsC, (int)(b * cs), (int)npix);
        var nt = RowNorms(xtC, (int)(b * ct), (int)npix);
        Tensor ris = ns.clamp_min(Eps).reciprocal_(), rit = nt.clamp_min(Eps).reciprocal_();
        var gss = xsC.bmm(xsC.transpose(1, 2));
        var gst = xsC.bmm(xtC.transpose(1, 2));
        double total;
        using (var gtt = xtC.bmm(xtC.transpose(1, 2)))
            total = ws * ScaledSquares(gss, ris, ris) + 2 * wst * ScaledSquares(gst, ris, rit) + wt * ScaledSquares(gtt, rit, rit);
        var loss = torch.tensor(total, dtype: s.dtype);
        ctx.save_for_backward([.. new[] { xsC, xtC, gss, gst, ns, nt }.Select(x => x.MoveToOuterDisposeScope())]);
        return loss.MoveToOuterDisposeScope();
    }

    static Tensor RowNorms(Tensor x, int rows, int d)
    {
        var n = empty(rows, dtype: x.dtype);
        if (x.dtype == ScalarType.Float32) CpuRows.RowNorms(P<float>(x), P<float>(n), rows, d);
        else CpuRows.RowNorms(P<double>(x), P<double>(n), rows, d);
        return n;
    }

    /// <summary>Σ_z Σ_ij (g_zij·ri_zi·cj_zj)², row partials in C#, added in order in double.</summary>
    static double ScaledSquares(Tensor g, Tensor ri, Tensor cj)
    {
        int rowsPerImage = (int)g.shape[1], cols = (int)g.shape[2], rows = (int)(g.shape[0] * rowsPerImage);
        using var partial = empty(rows, dtype: g.dtype);
        if (g.dtype == ScalarType.Float32) CpuNst.ScaledSquares(P<float>(g), P<float>(ri), P<float>(cj), P<float>(partial), rows, rowsPerImage, cols);
        else CpuNst.ScaledSquares(P<double>(g), P<double>(ri), P<double>(cj), P<double>(partial), rows, rowsPerImage, cols);
        return OpBase.OrderedSum(partial);
    }

    static T* P<T>(Tensor x) where T : unmanaged => TensorMemory.Ptr<T>(x);

    static void NormalizeBackwardRaw(Tensor ybar, Tensor x, Tensor norms)
    {
        int rows = (int)(x.shape[0] * x.shape[1]), d = (int)x.shape[2];
        if (x.dtype == ScalarType.Float32) CpuNst.NormalizeBackwardRaw(P<float>(ybar), P<float>(x), P<float>(norms), rows, d, (float)Eps);
        else CpuNst.NormalizeBackwardRaw(P<double>(ybar), P<double>(x), P<double>(norms), rows, d, Eps);
    }

    static Tensor OnDevice<T>(TorchDevice dev, autograd.AutogradContext ctx, Tensor xs, Tensor xt, double ws, double wst, double wt)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        int b = (int)xs.shape[0], cs = (int)xs.shape[1], n = cs + (int)xt.shape[1], npix = (int)xs.shape[2];
        var (loss, lossBuf) = dev.Keep<T>();
        Tensor norms, unit, g;
        using (dev.Sequence())
        {
            Kernels.Launch.Buf<T> nb, ub, gb;
            (norms, nb) = dev.Keep<T>(b * n);
            (unit, ub) = dev.Keep<T>(b, n, npix);
            (g, gb) = dev.Keep<T>(b, n, n);
            NstPrograms<T>.Forward(dev, dev.Bind<T>(xs), dev.Bind<T>(xt), new(nb, ub, gb), lossBuf, b, n, cs, npix, ws, wst, wt);
        }
        ctx.save_for_backward([unit.MoveToOuterDisposeScope(), norms.MoveToOuterDisposeScope(), g.MoveToOuterDisposeScope()]);
        return loss;
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad)
    {
        bool needS = PairOp.Needs(ctx, 0), needT = PairOp.Needs(ctx, 1);
        if (!needS && !needT) return [null!, null!, null!];
        using var scope = NewDisposeScope();
        var saved = ctx.get_saved_variables();
        var (ws, wst) = ((double, double))ctx.get_data("weights");
        int cs = (int)((long[])ctx.get_data("shape0"))[1];
        long b = ((long[])ctx.get_data("shape0"))[0];
        Tensor zbar;
        if (OpBase.ProgramDevice(ctx) is { } dev)
        {
            Tensor unit = saved[0], norms = saved[1], g = saved[2];
            zbar = OpBase.ByType(unit, () => BackwardOnDevice<float>(dev, unit, norms, g, grad, cs, ws, wst), () => BackwardOnDevice<double>(dev, unit, norms, g, grad, cs, ws, wst));
        }
        else
        {
            // ∂L/∂Ŝ = 4ws·ĜssŜ + 4wst·ĜstT̂ and ∂L/∂T̂ = 4wst·ĜstᵀŜ (the tt term detached), with Ŝ = diag(1/a)·xs: the
            // products run on the raw maps with the Grams' entries scaled, then the normalisation's backward in place.
            Tensor xs = saved[0], xt = saved[1], gss = saved[2], gst = saved[3], ns = saved[4], nt = saved[5];
            long ct = xt.shape[1];
            double up = PairOp.Upstream(grad);
            Tensor ris = ns.clamp_min(Eps).reciprocal_().view(b, cs), rit = nt.clamp_min(Eps).reciprocal_().view(b, ct);
            Tensor Scaled(Tensor g, Tensor rowF, Tensor colF, double c) => g.mul(rowF.unsqueeze(2)).mul_(colF.unsqueeze(1)).mul_(c);
            Tensor? gradS = null, gradT = null;
            if (needS)
            {
                using var ms = Scaled(gss, ris, ris * ris, 4 * ws * up);
                using var mst = Scaled(gst, ris, rit * rit, 4 * wst * up);
                var ybar = ms.bmm(xs);
                using (var cross = mst.bmm(xt)) ybar.add_(cross);
                NormalizeBackwardRaw(ybar, xs, ns);
                gradS = PairOp.Like(ctx, 0, ybar).MoveToOuterDisposeScope();
            }
            if (needT)
            {
                using var mts = Scaled(gst, ris * ris, rit, 4 * wst * up);
                var ybar = mts.transpose(1, 2).bmm(xs);
                NormalizeBackwardRaw(ybar, xt, nt);
                gradT = PairOp.Like(ctx, 1, ybar).MoveToOuterDisposeScope();
            }
            return [gradS!, gradT!, null!];
        }
        long n = zbar.shape[1];
        Tensor? gS = needS ? PairOp.Like(ctx, 0, zbar.narrow(1, 0, cs)).MoveToOuterDisposeScope() : null;
        Tensor? gT = needT ? PairOp.Like(ctx, 1, zbar.narrow(1, cs, n - cs)).MoveToOuterDisposeScope() : null;
        return [gS!, gT!, null!];
    }

    static Tensor BackwardOnDevice<T>(TorchDevice dev, Tensor unit, Tensor norms, Tensor g, Tensor grad, int cs, double ws, double wst)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        int b = (int)unit.shape[0], n = (int)unit.shape[1], npix = (int)unit.shape[2];
        var up = grad.to(TorchDevice.DType<T>()).contiguous();
        Tensor zbar;
        using (dev.Sequence())
        {
            Kernels.Launch.Buf<T> zb;
            (zbar, zb) = dev.Keep<T>(b, n, npix);
            NstPrograms<T>.Backward(dev, new(dev.Bind<T>(norms), dev.Bind<T>(unit), dev.Bind<T>(g)), dev.Bind<T>(up), zb, b, n, cs, npix, ws, wst);
        }
        return zbar;
    }
}
