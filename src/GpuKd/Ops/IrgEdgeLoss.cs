using GpuKd.Device;
using GpuKd.Kernels.Launch;
using GpuKd.Kernels.Programs;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Ops;

/// <summary>
/// IRG edge loss, fused: per side Xc = X − mean and one Gram G = XcXcᵀ; a row pass finds the max of the
/// clamped squared distances q and its tie count; one row epilogue gives L = Σ (q^S/m_S − q^T/m_T)² / b²
/// (q and E recomputed from G, never stored). Backward per side that wants a gradient: when the max
/// carries gradient, one row pass for m̄ = −(1/m) Σ Ē E, then one epilogue assembles Ḡ (Ē/m on every
/// unclamped entry, m̄ split evenly over the entries equal to the max, as PyTorch's max() does) and one
/// product X̄ = (Ḡ + Ḡᵀ)Xc = 2ḠXc (Ḡ is bit-symmetric: q_ij and q_ji are the same bits; no centring backward: the rows of Ḡ + Ḡᵀ sum to zero).
/// Saved: both Xc and both G.
/// Float32 inputs take the widened epilogue (<see cref="GpuKd.Kernels.Cpu.CpuWide"/>): q is computed once in
/// double (squared norms summed in double from Xc, off-diagonal Gram from the float32 GEMM) and handed to the
/// same epilogues in double as the pseudo-Gram G' = −q/2 with a zero diagonal, whose Gram-form distance
/// G'_ii + G'_jj − 2G'_ij is exactly q (and never below the recompute threshold: q ≥ the clamp), so they need
/// no features (<see cref="PseudoRows"/>). Ḡ comes out in double and is rounded to float32 for the one
/// product. Saved G is then that double table (b² × 8 bytes per side).
/// On a device (CUDA in place, or ILGPU's CPU accelerator) it runs <see cref="EdgePrograms{T}"/>: the maxima and the
/// loss total stay on the device. Peak extra memory: O(b² + bD).
/// </summary>
internal sealed class IrgEdgeLoss : autograd.SingleTensorFunction<IrgEdgeLoss>
{
    internal const double Clamp = 1e-12;

    public override string Name => "GpuKdIrgEdgeLoss";

    public static Tensor Apply(Tensor student, Tensor teacher, bool differentiateMax)
    {
        PairOp.Validate(student, teacher);
        return apply(Scaling.Invariant(student), Scaling.Invariant(teacher), differentiateMax);   // each side's relation is scale-free
    }

    /// <summary>The max of a side's matrix and how many entries equal it (fixed-order combination of the row results).</summary>
    static (double Max, double Count) Max(Tensor rowMax, Tensor rowCount)
    {
        var m = Doubles(rowMax);
        var c = Doubles(rowCount);
        double max = 0, count = 0;
        for (int i = 0; i < m.Length; i++)
        {
            if (double.IsNaN(max)) break;
            if (m[i] > max || double.IsNaN(m[i])) { max = m[i]; count = c[i]; }
            else if (m[i] == max) count += c[i];
        }
        return (max, count);
    }

    /// <summary>The values of a [b] CPU result as doubles (read from memory for float32/float64).</summary>
    static unsafe double[] Doubles(Tensor v)
    {
        if (v.device_type == DeviceType.CPU && v.is_contiguous() && v.dtype is ScalarType.Float32 or ScalarType.Float64)
        {
            var r = new double[v.numel()];
            if (v.dtype == ScalarType.Float32) { float* p = TensorMemory.Ptr<float>(v); for (int i = 0; i < r.Length; i++) r[i] = p[i]; }
            else { double* p = TensorMemory.Ptr<double>(v); for (int i = 0; i < r.Length; i++) r[i] = p[i]; }
            return r;
        }
        using var d = OpBase.CpuOnly(v).to(ScalarType.Float64);
        return d.data<double>().ToArray();
    }

    /// <summary>1/m, 0 for m = 0 (the matrix is then 0, not NaN), NaN for NaN.</summary>
    static double Inverse(double m) => m > 0 ? 1 / m : double.IsNaN(m) ? double.NaN : 0;

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        Tensor s = (Tensor)vars[0], t = (Tensor)vars[1];
        bool differentiateMax = (bool)vars[2];
        using var scope = NewDisposeScope();
        long b = s.shape[0];
        ctx.save_data("differentiateMax", differentiateMax);
        if (PairOp.TryProgram(ctx, s, t, d => OnDevice<float>(d, ctx, s, t), d => OnDevice<double>(d, ctx, s, t)) is { } onDevice)
            return onDevice;
        var backend = CpuBackend.Instance;
        var epilogues = CpuLossEpilogues.Instance;
        var xs = backend.Centre(OpBase.Rows(s));
        var xt = backend.Centre(OpBase.Rows(t));
        var gs = Gram(backend, xs);
        var gt = Gram(backend, xt);
        var (qs, qt) = (Features(xs, gs), Features(xt, gt));
        var (rs, cs) = epilogues.EdgeRowMax(gs, qs, Clamp);
        var (rt, ct) = epilogues.EdgeRowMax(gt, qt, Clamp);
        var (ms, ns) = Max(rs, cs);
        var (mt, nt) = Max(rt, ct);
        var loss = PairOp.Mean(epilogues.EdgeLossRows(gs, qs, gt, qt, new EdgeScalars(Inverse(ms), Inverse(mt), Clamp)), (double)b * b, s);
        PairOp.SaveInputs(ctx, backend, s, t);
        ctx.save_data("max", new[] { ms, mt });
        ctx.save_data("count", new[] { ns, nt });
        ctx.save_for_backward([xs.MoveToOuterDisposeScope(), gs.MoveToOuterDisposeScope(), xt.MoveToOuterDisposeScope(), gt.MoveToOuterDisposeScope()]);
        return loss.MoveToOuterDisposeScope();
    }

    /// <summary>The Gram the edge epilogues read: XcXcᵀ, or for float32 the double pseudo-Gram −q/2 (see the class remarks).</summary>
    static Tensor Gram(CpuBackend backend, Tensor xc)
    {
        var g = backend.Gram2(xc);
        if (xc.dtype != ScalarType.Float32) return g;
        var q = backend.DistanceForwardWide(g, xc, backend.SquaredNormsWide(xc), squared: true, Clamp);
        return q.mul_(-0.5);
    }

    /// <summary>The features the epilogues get beside <paramref name="g"/>: Xc itself, or for a pseudo-Gram a
    /// [b, 1] zero placeholder of its dtype (its direct recompute is never reached: q ≥ the clamp &gt; 0).</summary>
    static Tensor Features(Tensor xc, Tensor g) => g.dtype == xc.dtype ? xc : PseudoRows(g);

    static Tensor PseudoRows(Tensor g) => zeros(g.shape[0], 1, dtype: g.dtype);

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad)
    {
        bool needS = PairOp.Needs(ctx, 0), needT = PairOp.Needs(ctx, 1);
        if (!needS && !needT) return [null!, null!, null!];
        using var scope = NewDisposeScope();
        var saved = ctx.get_saved_variables();
        bool differentiateMax = (bool)ctx.get_data("differentiateMax");
        if (OpBase.ProgramDevice(ctx) is { } dev)
            return OpBase.ByType(saved[0], () => BackwardOnDevice<float>(dev, ctx, saved, grad, differentiateMax), () => BackwardOnDevice<double>(dev, ctx, saved, grad, differentiateMax));
        var backend = CpuBackend.Instance;
        var epilogues = CpuLossEpilogues.Instance;
        var max = (double[])ctx.get_data("max");
        var count = (double[])ctx.get_data("count");
        long b = saved[1].shape[0];
        double scale = 2.0 / ((double)b * b) * PairOp.Upstream(grad);

        Tensor SideGrad(int self, Tensor xs, Tensor gs, Tensor xo, Tensor go)
        {
            int other = 1 - self;
            double m = max[self], invM = Inverse(m);
            var e = new EdgeScalars(invM, Inverse(max[other]), Clamp, scale, m);
            var (qs, qo) = (Features(xs, gs), Features(xo, go));
            if (differentiateMax && m > Clamp)
            {
                double dot = Doubles(epilogues.EdgeDotRows(gs, qs, go, qo, e)).Sum();
                e = e with { MaxBarPerTie = -dot * invM / count[self] };
            }
            var gbar = epilogues.EdgeBackward(gs, qs, go, qo, e);
            if (gbar.dtype != xs.dtype) gbar = gbar.to(xs.dtype);   // float32: Ḡ computed in double, rounding keeps it bit-symmetric
            return PairOp.Like(ctx, self, backend.SymProductOfSymmetric(gbar, xs)).MoveToOuterDisposeScope();
        }

        var gradS = needS ? SideGrad(0, saved[0], saved[1], saved[2], saved[3]) : null;
        var gradT = needT ? SideGrad(1, saved[2], saved[3], saved[0], saved[1]) : null;
        return [gradS!, gradT!, null!];
    }

    /// <summary>The program (<see cref="EdgePrograms{T}"/>): saved per side Xc, G, R, the max block (see <see cref="EdgeSide{T}"/>).</summary>
    static Tensor OnDevice<T>(TorchDevice dev, autograd.AutogradContext ctx, Tensor student, Tensor teacher)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        int b = (int)student.shape[0];
        Tensor xs = OpBase.DeviceRows(student), xt = OpBase.DeviceRows(teacher);
        bool wide = typeof(T) == typeof(float);
        var saved = new List<Tensor>();
        EdgeSide<T> Side(Tensor x)
        {
            int d = (int)x.shape[1];
            var xcBuf = dev.KeepInto<T>(saved, b, d);
            var gBuf = dev.KeepInto<double>(saved, b, b);
            var rBuf = wide ? dev.KeepInto<double>(saved, b, 1) : (Buf<double>)(object)xcBuf;   // float64: the rows are Xc itself
            return new(xcBuf, gBuf, rBuf, dev.KeepInto<double>(saved, 3));
        }
        var (loss, lossBuf) = dev.Keep<T>();
        using (dev.Sequence())
        {
            EdgeSide<T> ss = Side(xs), st = Side(xt);
            EdgePrograms<T>.Forward(dev, dev.Bind<T>(xs), dev.Bind<T>(xt), ss, st, lossBuf, b, (int)xs.shape[1], (int)xt.shape[1], (double)b * b);
        }
        ctx.save_for_backward([.. saved.Select(x => x.MoveToOuterDisposeScope())]);
        return loss;
    }

    static List<Tensor> BackwardOnDevice<T>(TorchDevice dev, autograd.AutogradContext ctx, IList<Tensor> s, Tensor grad, bool differentiateMax)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        bool wide = typeof(T) == typeof(float);
        double count = (double)s[0].shape[0] * s[0].shape[0];
        return PairOp.DeviceBackward<T, EdgeSide<T>>(dev, ctx, s, grad, wide ? 4 : 3,
            v => wide ? new EdgeSide<T>(dev.Bind<T>(v[0]), dev.Bind<double>(v[1]), dev.Bind<double>(v[2]), dev.Bind<double>(v[3]))
                      : new EdgeSide<T>(dev.Bind<T>(v[0]), dev.Bind<double>(v[1]), dev.Bind<double>(v[0]), dev.Bind<double>(v[2])),
            (self, other, u, xb, b, dim) => EdgePrograms<T>.Backward(dev, self, other, u, xb, b, dim, count, differentiateMax));
    }
}
