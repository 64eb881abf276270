using System.Numerics;
using GpuKd.Kernels.Cpu;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Device;

/// <summary>
/// The CPU fast path: libtorch GEMM for the products (one of the fastest kernels on the
/// machine), hand-written SIMD C# (<c>kernels/Cpu</c>) for the fused epilogues.
/// </summary>
internal sealed unsafe class CpuBackend
{
    public static readonly CpuBackend Instance = new();

    /// <summary>XXᵀ by libtorch, then made bit-symmetric (the epilogues rely on it to read rows only).</summary>
    public Tensor Gram(Tensor x)
    {
        var g = x.matmul(x.transpose(-1, -2)).contiguous();
        int batch = (int)g.shape[0], n = (int)g.shape[1];
        if (g.dtype == ScalarType.Float32) CpuRows.MirrorUpper(TensorMemory.Ptr<float>(g), batch, n);
        else CpuRows.MirrorUpper(TensorMemory.Ptr<double>(g), batch, n);
        return g;
    }

    /// <summary>XXᵀ of one matrix by libtorch's mm (contiguous), made bit-symmetric when asked.</summary>
    public Tensor Gram2(Tensor x, bool bitSymmetric = true)
    {
        var g = x.mm(x.t());
        if (!bitSymmetric) return g;
        int n = (int)g.shape[0];
        if (g.dtype == ScalarType.Float32) CpuRows.MirrorUpper(TensorMemory.Ptr<float>(g), 1, n);
        else CpuRows.MirrorUpper(TensorMemory.Ptr<double>(g), 1, n);
        return g;
    }

    public Tensor SymProduct2(Tensor m, Tensor x)
    {
        using var sym = m + m.t();
        return sym.mm(x);
    }

    public Tensor SymProductOfSymmetric(Tensor m, Tensor x) => m.mm(x).mul_(2);

    public Tensor SymProduct(Tensor m, Tensor x)
    {
        using var sym = m + m.transpose(-1, -2);
        return sym.matmul(x);
    }

    public Tensor RowNorms(Tensor x)
    {
        var norms = empty(x.shape[0], dtype: x.dtype);
        int rows = (int)x.shape[0], d = (int)x.shape[1];
        if (x.dtype == ScalarType.Float32) CpuRows.RowNorms(TensorMemory.Ptr<float>(x), TensorMemory.Ptr<float>(norms), rows, d);
        else CpuRows.RowNorms(TensorMemory.Ptr<double>(x), TensorMemory.Ptr<double>(norms), rows, d);
        return norms;
    }

    public Tensor ScaleRows(Tensor x, Tensor norms, double eps)
    {
        using var denom = norms.clamp_min(eps).unsqueeze(1);
        return x / denom;
    }

    public Tensor NormalizeRowsBackward(Tensor ybar, Tensor y, Tensor norms, double eps)
    {
        var xbar = empty_like(y);
        int rows = (int)y.shape[0], d = (int)y.shape[1];
        if (y.dtype == ScalarType.Float32)
            CpuRows.NormalizeRowsBackward(TensorMemory.Ptr<float>(ybar), TensorMemory.Ptr<float>(y), TensorMemory.Ptr<float>(norms), TensorMemory.Ptr<float>(xbar), rows, d, (float)eps);
        else
            CpuRows.NormalizeRowsBackward(TensorMemory.Ptr<double>(ybar), TensorMemory.Ptr<double>(y), TensorMemory.Ptr<double>(norms), TensorMemory.Ptr<double>(xbar), rows, d, eps);
        return xbar;
    }

    public Tensor Centre(Tensor x)
    {
        using var mean = x.mean([0L], keepdim: true);
        return x - mean;
    }

    public Tensor DistanceForward(Tensor g, Tensor x, bool squared, double clamp)
    {
        var dist = empty_like(g);
        int n = (int)g.shape[0], d = (int)x.shape[1];
        if (g.dtype == ScalarType.Float32) CpuDistance.Forward(TensorMemory.Ptr<float>(g), TensorMemory.Ptr<float>(x), TensorMemory.Ptr<float>(dist), n, d, squared, (float)clamp);
        else CpuDistance.Forward(TensorMemory.Ptr<double>(g), TensorMemory.Ptr<double>(x), TensorMemory.Ptr<double>(dist), n, d, squared, clamp);
        return dist;
    }

    public Tensor SquaredNormsWide(Tensor x)
    {
        var norms = empty(x.shape[0], dtype: ScalarType.Float64);
        CpuWide.SquaredNorms(TensorMemory.Ptr<float>(x), TensorMemory.Ptr<double>(norms), (int)x.shape[0], (int)x.shape[1]);
        return norms;
    }

    public (Tensor Inv, Tensor GInv) LegsWide(Tensor g, Tensor x, Tensor norms, double tiny)
    {
        var inv = empty_like(g);
        var ginv = empty_like(g);
        CpuWide.Legs(TensorMemory.Ptr<float>(g), TensorMemory.Ptr<float>(x), TensorMemory.Ptr<double>(norms), TensorMemory.Ptr<float>(inv), TensorMemory.Ptr<float>(ginv),
            (int)g.shape[0], (int)x.shape[1], tiny);
        return (inv, ginv);
    }

    /// <summary>In place: the float32 angle Gram g [n, n] → the pseudo-Gram of <c>AngleMath</c> (diagonal = the double
    /// squared norms rounded once, off-diagonal shifted by their low parts), after <see cref="LegsWide"/>.</summary>
    public void AngleGramWide(Tensor g, Tensor norms)
        => CpuWide.AngleGram(TensorMemory.Ptr<float>(g), TensorMemory.Ptr<double>(norms), (int)g.shape[0]);

    public Tensor RowDotsWide(Tensor x, Tensor v)
    {
        var dots = empty(x.shape[0], dtype: ScalarType.Float64);
        CpuWide.RowDots(TensorMemory.Ptr<float>(x), TensorMemory.Ptr<double>(v), TensorMemory.Ptr<double>(dots), (int)x.shape[0], (int)x.shape[1]);
        return dots;
    }

    public Tensor DistanceForwardWide(Tensor g, Tensor x, Tensor norms, bool squared, double clamp)
    {
        var dist = empty_like(g, dtype: ScalarType.Float64);
        CpuWide.DistanceForward(TensorMemory.Ptr<float>(g), TensorMemory.Ptr<float>(x), TensorMemory.Ptr<double>(norms), TensorMemory.Ptr<double>(dist),
            (int)g.shape[0], (int)x.shape[1], squared, clamp);
        return dist;
    }

    public Tensor DistanceBackward(Tensor dbar, Tensor dist, bool squared, double clamp)
    {
        // d̄ + d̄ᵀ by libtorch's blocked transpose-add, so the kernel reads rows only.
        using var sym = (dbar + dbar.t()).contiguous();
        dbar = sym;
        var gbar = empty_like(dist);
        int n = (int)dist.shape[0];
        if (dist.dtype == ScalarType.Float32)
            CpuDistance.Backward(TensorMemory.Ptr<float>(dbar), TensorMemory.Ptr<float>(dist), TensorMemory.Ptr<float>(gbar), n, squared, ClampOut<float>(squared, clamp));
        else
            CpuDistance.Backward(TensorMemory.Ptr<double>(dbar), TensorMemory.Ptr<double>(dist), TensorMemory.Ptr<double>(gbar), n, squared, ClampOut<double>(squared, clamp));
        return gbar;
    }

    /// <summary>The forward's output value at the clamp, computed as the forward does.</summary>
    internal static T ClampOut<T>(bool squared, double clamp) where T : IFloatingPointIeee754<T>
        => squared ? T.CreateTruncating(clamp) : T.Sqrt(T.CreateTruncating(clamp));

    public (Tensor Inv, Tensor GInv) Legs(Tensor g, Tensor x, double tiny)
    {
        var inv = empty_like(g);
        var ginv = empty_like(g);
        int n = (int)g.shape[0], d = (int)x.shape[1];
        if (g.dtype == ScalarType.Float32) CpuAngles.Legs(TensorMemory.Ptr<float>(g), TensorMemory.Ptr<float>(x), TensorMemory.Ptr<float>(inv), TensorMemory.Ptr<float>(ginv), n, d, (float)tiny);
        else CpuAngles.Legs(TensorMemory.Ptr<double>(g), TensorMemory.Ptr<double>(x), TensorMemory.Ptr<double>(inv), TensorMemory.Ptr<double>(ginv), n, d, tiny);
        return (inv, ginv);
    }

    public Tensor AngleForward(Tensor g, Tensor inv)
    {
        long n = g.shape[0];
        var angles = empty(new[] { n, n, n }, dtype: g.dtype);
        if (g.dtype == ScalarType.Float32) CpuAngles.Forward(TensorMemory.Ptr<float>(g), TensorMemory.Ptr<float>(inv), TensorMemory.Ptr<float>(angles), (int)n);
        else CpuAngles.Forward(TensorMemory.Ptr<double>(g), TensorMemory.Ptr<double>(inv), TensorMemory.Ptr<double>(angles), (int)n);
        return angles;
    }

    public Tensor AngleBackward(Tensor g, Tensor inv, Tensor ginv, Tensor rbar)
    {
        long n = g.shape[0];
        using var scratch = empty(new[] { 4, n, n }, dtype: g.dtype);
        var gbar = empty_like(g);
        if (g.dtype == ScalarType.Float32) Run<float>(g, inv, ginv, rbar, scratch, gbar, (int)n);
        else Run<double>(g, inv, ginv, rbar, scratch, gbar, (int)n);
        return gbar;

        static void Run<T>(Tensor g, Tensor inv, Tensor ginv, Tensor rbar, Tensor scratch, Tensor gbar, int n)
            where T : unmanaged, IFloatingPointIeee754<T>
        {
            T* s = TensorMemory.Ptr<T>(scratch);
            long nn = (long)n * n;
            CpuAngles.Backward(TensorMemory.Ptr<T>(g), TensorMemory.Ptr<T>(inv), TensorMemory.Ptr<T>(ginv), TensorMemory.Ptr<T>(rbar),
                s, s + nn, s + 2 * nn, s + 3 * nn, TensorMemory.Ptr<T>(gbar), n);
        }
    }

    public Tensor DistanceLossPartials(Tensor d, Tensor dO, double invMu, double invMuO)
    {
        int n = (int)d.shape[0];
        var partial = empty(n, dtype: d.dtype);
        if (d.dtype == ScalarType.Float32)
            CpuDistanceLoss.Partials(TensorMemory.Ptr<float>(d), TensorMemory.Ptr<float>(dO), (float)invMu, (float)invMuO, TensorMemory.Ptr<float>(partial), n);
        else
            CpuDistanceLoss.Partials(TensorMemory.Ptr<double>(d), TensorMemory.Ptr<double>(dO), invMu, invMuO, TensorMemory.Ptr<double>(partial), n);
        return partial;
    }

    public Tensor DistanceLossBackward(Tensor d, Tensor dO, double invMu, double invMuO, double scale)
    {
        int n = (int)d.shape[0];
        var dbar = empty_like(d);
        using var rowDots = empty(n, dtype: d.dtype);
        if (d.dtype == ScalarType.Float32)
            CpuDistanceLoss.Backward(TensorMemory.Ptr<float>(d), TensorMemory.Ptr<float>(dO), (float)invMu, (float)invMuO, (float)scale, TensorMemory.Ptr<float>(dbar), TensorMemory.Ptr<float>(rowDots), n);
        else
            CpuDistanceLoss.Backward(TensorMemory.Ptr<double>(d), TensorMemory.Ptr<double>(dO), invMu, invMuO, scale, TensorMemory.Ptr<double>(dbar), TensorMemory.Ptr<double>(rowDots), n);
        return dbar;
    }

    public Tensor AngleLossPartials(Tensor g, Tensor inv, Tensor gO, Tensor invO)
    {
        var partial = empty_like(g);
        int n = (int)g.shape[0];
        if (g.dtype == ScalarType.Float32)
            CpuAngles.LossPartials(TensorMemory.Ptr<float>(g), TensorMemory.Ptr<float>(inv), TensorMemory.Ptr<float>(gO), TensorMemory.Ptr<float>(invO), TensorMemory.Ptr<float>(partial), n);
        else
            CpuAngles.LossPartials(TensorMemory.Ptr<double>(g), TensorMemory.Ptr<double>(inv), TensorMemory.Ptr<double>(gO), TensorMemory.Ptr<double>(invO), TensorMemory.Ptr<double>(partial), n);
        return partial;
    }

    public Tensor AngleLossBackward(Tensor g, Tensor inv, Tensor ginv, Tensor gO, Tensor invO, double scale)
    {
        long n = g.shape[0];
        using var scratch = empty(new[] { 4, n, n }, dtype: g.dtype);
        var gbar = empty_like(g);
        if (g.dtype == ScalarType.Float32) Run<float>(g, inv, ginv, gO, invO, (float)scale, scratch, gbar, (int)n);
        else Run<double>(g, inv, ginv, gO, invO, scale, scratch, gbar, (int)n);
        return gbar;

        static void Run<T>(Tensor g, Tensor inv, Tensor ginv, Tensor gO, Tensor invO, T scale, Tensor scratch, Tensor gbar, int n)
            where T : unmanaged, IFloatingPointIeee754<T>
        {
            T* s = TensorMemory.Ptr<T>(scratch);
            long nn = (long)n * n;
            CpuAngles.LossBackward(TensorMemory.Ptr<T>(g), TensorMemory.Ptr<T>(inv), TensorMemory.Ptr<T>(ginv),
                TensorMemory.Ptr<T>(gO), TensorMemory.Ptr<T>(invO), scale, s, s + nn, s + 2 * nn, s + 3 * nn, TensorMemory.Ptr<T>(gbar), n);
        }
    }
}
