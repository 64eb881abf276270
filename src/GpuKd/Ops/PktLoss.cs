using GpuKd.Device;
using GpuKd.Kernels.Cpu;
using GpuKd.Kernels.Launch;
using GpuKd.Kernels.Programs;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Ops;

/// <summary>
/// PKT (RepDistiller <c>PKT.cosine_similarity_loss</c>): per side u = x/(‖x‖ + eps), S = UUᵀ, P = (S + 1)/2
/// row-normalised to p (student) and q (teacher), L = Σ q·log((q + eps)/(p + eps)) / b² (Mean) or the plain Σ (Sum).
/// One Gram per side and one row epilogue forward; backward per side that wants a gradient one b×b epilogue, H + Hᵀ
/// formed in place over it, one product (H + Hᵀ)U and the unit rows' backward. On a device it runs <see cref="PktPrograms{T}"/>; on CPU tensors by
/// default libtorch's mm and the C# rows (<see cref="CpuPkt"/>). Saved: per side the rows (the input, no copy when
/// contiguous), norms, unit rows and S.
/// </summary>
internal sealed unsafe class PktLoss : autograd.SingleTensorFunction<PktLoss>
{
    public override string Name => "GpuKdPktLoss";

    public static Tensor Apply(Tensor student, Tensor teacher, double eps, nn.Reduction reduction)
    {
        PairOp.Validate(student, teacher);
        Validate.Positive(eps, "eps");
        Validate.ScalarReduction(reduction, "reduction");
        return apply(student, teacher, eps, reduction);   // overflow-safe norms: no prescale (the +eps is not scale-free)
    }

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var (s, t, eps, reduction) = ((Tensor)vars[0], (Tensor)vars[1], (double)vars[2], (nn.Reduction)vars[3]);
        using var scope = NewDisposeScope();
        long b = s.shape[0];
        double scale = reduction == nn.Reduction.Mean ? 1.0 / ((double)b * b) : 1.0;
        ctx.save_data("eps", eps);
        ctx.save_data("scale", scale);
        var dev = KdRuntime.Programs(s);
        OpBase.SaveDevice(ctx, dev);
        PairOp.SaveInputs(ctx, null, s, t);
        Tensor xs = OpBase.DeviceRows(s), xt = OpBase.DeviceRows(t);
        if (dev is not null)
            return OpBase.ByType(s, () => OnDevice<float>(dev, ctx, xs, xt, eps, scale), () => OnDevice<double>(dev, ctx, xs, xt, eps, scale)).MoveToOuterDisposeScope();

        (Tensor N, Tensor U, Tensor S) Side(Tensor x)
        {
            int rows = (int)x.shape[0], d = (int)x.shape[1];
            var n = empty(rows, dtype: x.dtype);
            var u = empty(rows, d, dtype: x.dtype);
            if (x.dtype == ScalarType.Float32)
            {
                CpuRows.RowNorms(P<float>(x), P<float>(n), rows, d);
                CpuPkt.UnitRows(P<float>(x), P<float>(n), P<float>(u), rows, d, (float)eps);
            }
            else
            {
                CpuRows.RowNorms(P<double>(x), P<double>(n), rows, d);
                CpuPkt.UnitRows(P<double>(x), P<double>(n), P<double>(u), rows, d, eps);
            }
            return (n, u, u.mm(u.t()));
        }
        var (ns, us, ss) = Side(xs);
        var (nt, ut, st) = Side(xt);
        int bi = (int)b;
        var partial = empty(bi, dtype: s.dtype);
        if (s.dtype == ScalarType.Float32) CpuPkt.LossRows(P<float>(ss), P<float>(st), P<float>(partial), bi, (float)eps);
        else CpuPkt.LossRows(P<double>(ss), P<double>(st), P<double>(partial), bi, eps);
        var loss = PairOp.Mean(partial, 1.0 / scale, s);
        ctx.save_for_backward([.. new[] { xs, ns, us, ss, xt, nt, ut, st }.Select(x => x.MoveToOuterDisposeScope())]);
        return loss.MoveToOuterDisposeScope();
    }

    static T* P<T>(Tensor x) where T : unmanaged => TensorMemory.Ptr<T>(x);

    static Tensor OnDevice<T>(TorchDevice dev, autograd.AutogradContext ctx, Tensor xs, Tensor xt, double eps, double scale)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        int b = (int)xs.shape[0], ds = (int)xs.shape[1], dt = (int)xt.shape[1];
        var saved = new List<Tensor>();
        var (loss, lossBuf) = dev.Keep<T>();
        using (dev.Sequence())
        {
            PktSide<T> Side(Tensor x, int d)
            {
                saved.Add(x);
                var xb = dev.Bind<T>(x);
                return new(xb, dev.KeepInto<T>(saved, b), dev.KeepInto<T>(saved, b, d), dev.KeepInto<T>(saved, b, b));
            }
            PktSide<T> s = Side(xs, ds), t = Side(xt, dt);
            PktPrograms<T>.Forward(dev, s, t, lossBuf, b, ds, dt, eps, scale);
        }
        ctx.save_for_backward([.. saved.Select(x => x.MoveToOuterDisposeScope())]);
        return loss;
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad)
    {
        bool needS = PairOp.Needs(ctx, 0), needT = PairOp.Needs(ctx, 1);
        if (!needS && !needT) return [null!, null!, null!, null!];
        using var scope = NewDisposeScope();
        var v = ctx.get_saved_variables();
        double eps = (double)ctx.get_data("eps"), scale = (double)ctx.get_data("scale");
        if (OpBase.ProgramDevice(ctx) is { } dev)
            return OpBase.ByType(v[0], () => BackwardOnDevice<float>(dev, ctx, v, grad, eps, scale), () => BackwardOnDevice<double>(dev, ctx, v, grad, eps, scale));

        Tensor ss = v[3], st = v[7];
        int b = (int)ss.shape[0];
        double sc = scale * PairOp.Upstream(grad);
        Tensor Side(int k)
        {
            Tensor x = v[4 * k], n = v[4 * k + 1], u = v[4 * k + 2];
            var h = empty_like(ss);
            if (ss.dtype == ScalarType.Float32) CpuPkt.BackwardRows(P<float>(ss), P<float>(st), P<float>(h), b, (float)eps, (float)sc, k == 1);
            else CpuPkt.BackwardRows(P<double>(ss), P<double>(st), P<double>(h), b, eps, sc, k == 1);
            if (h.dtype == ScalarType.Float32) CpuPkt.Symmetrize(P<float>(h), b);   // H + Hᵀ in place
            else CpuPkt.Symmetrize(P<double>(h), b);
            var ubar = h.mm(u);
            int d = (int)x.shape[1];
            if (x.dtype == ScalarType.Float32) CpuPkt.UnitBackward(P<float>(ubar), P<float>(x), P<float>(n), b, d, (float)eps);
            else CpuPkt.UnitBackward(P<double>(ubar), P<double>(x), P<double>(n), b, d, eps);
            return PairOp.Like(ctx, k, ubar).MoveToOuterDisposeScope();
        }
        return [needS ? Side(0) : null!, needT ? Side(1) : null!, null!, null!];
    }

    static List<Tensor> BackwardOnDevice<T>(TorchDevice dev, autograd.AutogradContext ctx, IList<Tensor> v, Tensor grad, double eps, double scale)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        int b = (int)v[0].shape[0];
        var up = grad.to(TorchDevice.DType<T>()).contiguous();
        var result = new Tensor?[2];
        using (dev.Sequence())
        {
            var sides = new PktSide<T>[2];
            for (int k = 0; k < 2; k++) sides[k] = new(dev.Bind<T>(v[4 * k]), dev.Bind<T>(v[4 * k + 1]), dev.Bind<T>(v[4 * k + 2]), dev.Bind<T>(v[4 * k + 3]));
            var upBuf = dev.Bind<T>(up);
            for (int k = 0; k < 2; k++)
            {
                if (!PairOp.Needs(ctx, k)) continue;
                int d = (int)v[4 * k].shape[1];
                var (xbar, xbarBuf) = dev.Keep<T>(b, d);
                PktPrograms<T>.Backward(dev, sides[0], sides[1], k == 1, upBuf, xbarBuf, b, d, eps, scale);
                result[k] = xbar;
            }
        }
        return [.. result.Select((r, k) => r is null ? null! : PairOp.Like(ctx, k, r).MoveToOuterDisposeScope()), null!, null!];
    }
}
