using GpuKd.Device;
using GpuKd.Kernels.Cpu;
using GpuKd.Kernels.Launch;
using GpuKd.Kernels.Programs;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Ops;

/// <summary>
/// DIST (torchdistill <c>DISTLoss</c>, Huang et al. 2022): y = softmax(z / tau) per side, the b row and K column Pearson
/// correlations of y_s and y_t (cosine_similarity of the centred vectors, eps 1e-8, each norm clamped as in torch 2.x),
/// L = βτ²·(1 − mean ρ) + γτ²·(1 − mean σ) (Mean) or βτ²·Σ(1 − ρ) + γτ²·Σ(1 − σ) (Sum). O(bK): one row pass (both
/// softmaxes and the row statistics), one column pass, an elementwise backward through the softmax Jacobian. On a device
/// it runs <see cref="DistPrograms{T}"/>; on CPU tensors by default the C# rows (<see cref="CpuDist"/>). Saved: the two
/// softmaxes [b, K] and the statistics [5, b] + [5, K].
/// </summary>
internal sealed unsafe class DistLoss : autograd.SingleTensorFunction<DistLoss>
{
    /// <summary>The published eps of cosine_similarity (torchdistill's default).</summary>
    public const double Eps = 1e-8;

    public override string Name => "GpuKdDistLoss";

    public static Tensor Apply(Tensor student, Tensor teacher, double beta, double gamma, double tau, nn.Reduction reduction)
    {
        PairOp.Validate(student, teacher, "student_logits", "teacher_logits", sameShape: true);
        if (student.dim() != 2)
            throw new ArgumentException($"student_logits must be [b, K] logits (rank 2), got shape [{string.Join(", ", student.shape)}].", "student_logits");
        if (!double.IsFinite(beta)) throw new ArgumentException($"beta must be finite, got {beta}.", nameof(beta));
        if (!double.IsFinite(gamma)) throw new ArgumentException($"gamma must be finite, got {gamma}.", nameof(gamma));
        Validate.Positive(tau, "temperature");
        Reductions.MeanOrSumOfParts(reduction, "dist_loss", "b row correlations and K column correlations");
        long b = student.shape[0], k = student.shape[1];
        double t2 = tau * tau;
        double rowScale = reduction == nn.Reduction.Mean ? beta * t2 / b : beta * t2;
        double colScale = reduction == nn.Reduction.Mean ? gamma * t2 / k : gamma * t2;
        return apply(student, teacher, tau, rowScale, colScale);
    }

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var (s, t, tau, rowScale, colScale) = ((Tensor)vars[0], (Tensor)vars[1], (double)vars[2], (double)vars[3], (double)vars[4]);
        using var scope = NewDisposeScope();
        ctx.save_data("tau", tau);
        ctx.save_data("rowScale", rowScale);
        ctx.save_data("colScale", colScale);
        Tensor zs = OpBase.DeviceRows(s), zt = OpBase.DeviceRows(t);
        if (PairOp.TryProgram(ctx, s, t, dev => OnDevice<float>(dev, ctx, zs, zt, tau, rowScale, colScale),
                              dev => OnDevice<double>(dev, ctx, zs, zt, tau, rowScale, colScale)) is { } onDevice)
            return onDevice;
        PairOp.SaveInputs(ctx, null, s, t);

        int b = (int)zs.shape[0], k = (int)zs.shape[1];
        var ys = empty_like(zs);
        var yt = empty_like(zt);
        var rows = empty(CpuDist.StatCount * b, dtype: ScalarType.Float64);
        var cols = empty(CpuDist.StatCount * k, dtype: ScalarType.Float64);
        double* r = P<double>(rows), c = P<double>(cols);
        if (zs.dtype == ScalarType.Float32)
        {
            CpuDist.Rows(P<float>(zs), P<float>(zt), P<float>(ys), P<float>(yt), r, b, k, (float)tau, Eps);
            CpuDist.Columns(P<float>(ys), P<float>(yt), c, b, k, Eps);
        }
        else
        {
            CpuDist.Rows(P<double>(zs), P<double>(zt), P<double>(ys), P<double>(yt), r, b, k, tau, Eps);
            CpuDist.Columns(P<double>(ys), P<double>(yt), c, b, k, Eps);
        }
        double loss = rowScale * CpuDist.OneMinusSum(r, b) + colScale * CpuDist.OneMinusSum(c, k);
        ctx.save_for_backward([.. new[] { ys, yt, rows, cols }.Select(x => x.MoveToOuterDisposeScope())]);
        return tensor(loss, dtype: s.dtype).MoveToOuterDisposeScope();
    }

    static T* P<T>(Tensor x) where T : unmanaged => TensorMemory.Ptr<T>(x);

    static Tensor OnDevice<T>(TorchDevice dev, autograd.AutogradContext ctx, Tensor zs, Tensor zt, double tau, double rowScale, double colScale)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        int b = (int)zs.shape[0], k = (int)zs.shape[1];
        var saved = new List<Tensor>();
        var (loss, lossBuf) = dev.Keep<T>();
        using (dev.Sequence())
        {
            var st = new DistState<T>(dev.Bind<T>(zs), dev.Bind<T>(zt), dev.KeepInto<T>(saved, b, k), dev.KeepInto<T>(saved, b, k), dev.KeepInto<T>(saved, 5L * b), dev.KeepInto<T>(saved, 5L * k));
            DistPrograms<T>.Forward(dev, st, lossBuf, b, k, tau, Eps, rowScale, colScale);
        }
        ctx.save_for_backward([.. saved.Select(x => x.MoveToOuterDisposeScope())]);
        return loss;
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad)
    {
        bool needS = PairOp.Needs(ctx, 0), needT = PairOp.Needs(ctx, 1);
        if (!needS && !needT) return [null!, null!, null!, null!, null!];
        using var scope = NewDisposeScope();
        var v = ctx.get_saved_variables();
        double tau = (double)ctx.get_data("tau"), rowScale = (double)ctx.get_data("rowScale"), colScale = (double)ctx.get_data("colScale");
        Tensor ys = v[0], yt = v[1];
        int b = (int)ys.shape[0], k = (int)ys.shape[1];
        if (OpBase.ProgramDevice(ctx) is { } dev)
            return OpBase.ByType(ys, () => BackwardOnDevice<float>(dev, ctx, v, grad, b, k, tau, rowScale, colScale),
                                 () => BackwardOnDevice<double>(dev, ctx, v, grad, b, k, tau, rowScale, colScale));

        double scale = PairOp.Upstream(grad) / tau;
        double* r = P<double>(v[2]), c = P<double>(v[3]);
        Tensor Side(int side)
        {
            bool teacher = side == 1;
            var gz = empty_like(ys);
            if (ys.dtype == ScalarType.Float32)
                CpuDist.Backward(P<float>(teacher ? yt : ys), P<float>(teacher ? ys : yt), r, c, P<float>(gz), b, k, teacher, -rowScale, -colScale, Eps, scale);
            else
                CpuDist.Backward(P<double>(teacher ? yt : ys), P<double>(teacher ? ys : yt), r, c, P<double>(gz), b, k, teacher, -rowScale, -colScale, Eps, scale);
            return PairOp.Like(ctx, side, gz).MoveToOuterDisposeScope();
        }
        return [needS ? Side(0) : null!, needT ? Side(1) : null!, null!, null!, null!];
    }

    static List<Tensor> BackwardOnDevice<T>(TorchDevice dev, autograd.AutogradContext ctx, IList<Tensor> v, Tensor grad, int b, int k,
        double tau, double rowScale, double colScale)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var up = grad.to(TorchDevice.DType<T>()).contiguous();
        var result = new Tensor?[2];
        using (dev.Sequence())
        {
            var ys = dev.Bind<T>(v[0]);
            var st = new DistState<T>(default, default, ys, dev.Bind<T>(v[1]), dev.Bind<T>(v[2]), dev.Bind<T>(v[3]));
            var upBuf = dev.Bind<T>(up);
            for (int side = 0; side < 2; side++)
            {
                if (!PairOp.Needs(ctx, side)) continue;
                var (zbar, zbarBuf) = dev.Keep<T>(b, k);
                DistPrograms<T>.Backward(dev, st, side == 1, upBuf, zbarBuf, b, k, tau, Eps, rowScale, colScale);
                result[side] = zbar;
            }
        }
        return [.. result.Select((r, side) => r is null ? null! : PairOp.Like(ctx, side, r).MoveToOuterDisposeScope()), null!, null!, null!];
    }
}
