using System.Numerics;
using GpuKd.Kernels.Ilgpu;
using static TorchSharp.torch;

namespace GpuKd.Device;

/// <summary>
/// The ILGPU kernels behind the op contract: every primitive is a kernel launch (the
/// products included), on CUDA or on ILGPU's CPU accelerator. Launch sequences hold the
/// device gate, so concurrent callers are serialised rather than interleaved.
/// </summary>
internal sealed class IlgpuBackend(IlgpuDevice device) : IKdBackend
{
    public IlgpuDevice Device { get; } = device;

    /// <summary>Runs the launches for the element type of <paramref name="like"/> under the gate.</summary>
    void Run(Tensor like, Action<IlgpuBinder, IlgpuLaunchers<float>> f32, Action<IlgpuBinder, IlgpuLaunchers<double>> f64)
    {
        lock (Device.Gate)
        {
            using var binder = new IlgpuBinder(Device);
            if (like.dtype == ScalarType.Float32) f32(binder, Device.For<float>());
            else f64(binder, Device.For<double>());
            binder.Finish();
        }
    }

    public Tensor Gram(Tensor x)
    {
        int batch = (int)x.shape[0], n = (int)x.shape[1], d = (int)x.shape[2];
        var g = empty(new long[] { batch, n, n }, dtype: x.dtype);
        Run(x, (b, k) => k.Gram(b.In<float>(x), b.Out<float>(g), batch, n, d),
               (b, k) => k.Gram(b.In<double>(x), b.Out<double>(g), batch, n, d));
        return g;
    }

    public Tensor SymProduct(Tensor m, Tensor x)
    {
        int batch = (int)x.shape[0], n = (int)x.shape[1], d = (int)x.shape[2];
        var y = empty_like(x);
        Run(x, (b, k) => k.SymProduct(b.In<float>(m), b.In<float>(x), b.Out<float>(y), batch, n, d),
               (b, k) => k.SymProduct(b.In<double>(m), b.In<double>(x), b.Out<double>(y), batch, n, d));
        return y;
    }

    public Tensor RowNorms(Tensor x)
    {
        int rows = (int)x.shape[0], d = (int)x.shape[1];
        var norms = empty(rows, dtype: x.dtype);
        Run(x, (b, k) => k.RowNorms(b.In<float>(x), b.Out<float>(norms), rows, d),
               (b, k) => k.RowNorms(b.In<double>(x), b.Out<double>(norms), rows, d));
        return norms;
    }

    public Tensor ScaleRows(Tensor x, Tensor norms, double eps)
    {
        int rows = (int)x.shape[0], d = (int)x.shape[1];
        var y = empty_like(x);
        Run(x, (b, k) => k.ScaleRows(b.In<float>(x), b.In<float>(norms), b.Out<float>(y), rows, d, (float)eps),
               (b, k) => k.ScaleRows(b.In<double>(x), b.In<double>(norms), b.Out<double>(y), rows, d, eps));
        return y;
    }

    public Tensor NormalizeRowsBackward(Tensor ybar, Tensor y, Tensor norms, double eps)
    {
        int rows = (int)y.shape[0], d = (int)y.shape[1];
        var xbar = empty_like(y);
        Run(y, (b, k) => k.NormalizeRowsBackward(b.In<float>(ybar), b.In<float>(y), b.In<float>(norms), b.Out<float>(xbar), rows, d, (float)eps),
               (b, k) => k.NormalizeRowsBackward(b.In<double>(ybar), b.In<double>(y), b.In<double>(norms), b.Out<double>(xbar), rows, d, eps));
        return xbar;
    }

    public Tensor Centre(Tensor x)
    {
        int rows = (int)x.shape[0], d = (int)x.shape[1];
        var xc = empty_like(x);
        Run(x, (b, k) => k.Centre(b.In<float>(x), b.Scratch<float>(d), b.Out<float>(xc), rows, d),
               (b, k) => k.Centre(b.In<double>(x), b.Scratch<double>(d), b.Out<double>(xc), rows, d));
        return xc;
    }

    public Tensor DistanceForward(Tensor g, Tensor x, bool squared, double clamp)
    {
        int n = (int)g.shape[0], d = (int)x.shape[1];
        var dist = empty_like(g);
        Run(g, (b, k) => k.DistanceForward(b.In<float>(g), b.In<float>(x), b.Out<float>(dist), n, d, squared, (float)clamp),
               (b, k) => k.DistanceForward(b.In<double>(g), b.In<double>(x), b.Out<double>(dist), n, d, squared, clamp));
        return dist;
    }

    /// <summary>Runs float32-in, float64-out launches (<see cref="WideLaunchers"/>) under the gate.</summary>
    void RunWide(Action<IlgpuBinder, WideLaunchers> f)
    {
        lock (Device.Gate)
        {
            using var binder = new IlgpuBinder(Device);
            f(binder, WideLaunchers.For(Device));
            binder.Finish();
        }
    }

    public Tensor SquaredNormsWide(Tensor x)
    {
        int rows = (int)x.shape[0], d = (int)x.shape[1];
        var norms = empty(rows, dtype: ScalarType.Float64);
        RunWide((b, k) => k.SquaredNorms(b.In<float>(x), b.Out<double>(norms), rows, d));
        return norms;
    }

    public (Tensor Inv, Tensor GInv) LegsWide(Tensor g, Tensor x, Tensor norms, double tiny)
    {
        int n = (int)g.shape[0], d = (int)x.shape[1];
        var inv = empty_like(g);
        var ginv = empty_like(g);
        RunWide((b, k) => k.Legs(b.In<float>(g), b.In<float>(x), b.In<double>(norms), b.Out<float>(inv), b.Out<float>(ginv), n, d, tiny));
        return (inv, ginv);
    }

    public Tensor RowDotsWide(Tensor x, Tensor v)
    {
        int rows = (int)x.shape[0], d = (int)x.shape[1];
        var dots = empty(rows, dtype: ScalarType.Float64);
        RunWide((b, k) => k.RowDots(b.In<float>(x), b.In<double>(v), b.Out<double>(dots), rows, d));
        return dots;
    }

    public Tensor DistanceForwardWide(Tensor g, Tensor x, Tensor norms, bool squared, double clamp)
    {
        int n = (int)g.shape[0], d = (int)x.shape[1];
        var dist = empty_like(g, dtype: ScalarType.Float64);
        RunWide((b, k) => k.DistanceForward(b.In<float>(g), b.In<float>(x), b.In<double>(norms), b.Out<double>(dist), n, d, squared, clamp));
        return dist;
    }

    public Tensor DistanceBackward(Tensor dbar, Tensor dist, bool squared, double clamp)
    {
        int n = (int)dist.shape[0];
        var gbar = empty_like(dist);
        Run(dist, (b, k) => k.DistanceBackward(b.In<float>(dbar), b.In<float>(dist), b.Out<float>(gbar), n, squared, CpuBackend.ClampOut<float>(squared, clamp)),
                  (b, k) => k.DistanceBackward(b.In<double>(dbar), b.In<double>(dist), b.Out<double>(gbar), n, squared, CpuBackend.ClampOut<double>(squared, clamp)));
        return gbar;
    }

    public (Tensor Inv, Tensor GInv) Legs(Tensor g, Tensor x, double tiny)
    {
        int n = (int)g.shape[0], d = (int)x.shape[1];
        var inv = empty_like(g);
        var ginv = empty_like(g);
        Run(g, (b, k) => k.Legs(b.In<float>(g), b.In<float>(x), b.Out<float>(inv), b.Out<float>(ginv), n, d, (float)tiny),
               (b, k) => k.Legs(b.In<double>(g), b.In<double>(x), b.Out<double>(inv), b.Out<double>(ginv), n, d, tiny));
        return (inv, ginv);
    }

    public Tensor AngleForward(Tensor g, Tensor inv)
    {
        long n = g.shape[0];
        var angles = empty(new[] { n, n, n }, dtype: g.dtype);
        Run(g, (b, k) => k.AngleForward(b.In<float>(g), b.In<float>(inv), b.Out<float>(angles), (int)n),
               (b, k) => k.AngleForward(b.In<double>(g), b.In<double>(inv), b.Out<double>(angles), (int)n));
        return angles;
    }

    public Tensor AngleBackward(Tensor g, Tensor inv, Tensor ginv, Tensor rbar)
    {
        int n = (int)g.shape[0];
        long nn = (long)n * n;
        var gbar = empty_like(g);
        Run(g, (b, k) => k.AngleBackward(b.In<float>(g), b.In<float>(inv), b.In<float>(ginv), b.In<float>(rbar),
                    b.Scratch<float>(nn), b.Scratch<float>(nn), b.Scratch<float>(nn), b.Scratch<float>(nn), b.Out<float>(gbar), n),
               (b, k) => k.AngleBackward(b.In<double>(g), b.In<double>(inv), b.In<double>(ginv), b.In<double>(rbar),
                    b.Scratch<double>(nn), b.Scratch<double>(nn), b.Scratch<double>(nn), b.Scratch<double>(nn), b.Out<double>(gbar), n));
        return gbar;
    }

    public Tensor DistanceLossPartials(Tensor d, Tensor dO, double invMu, double invMuO)
    {
        int n = (int)d.shape[0];
        var partial = empty(n, dtype: d.dtype);
        Run(d, (b, k) => k.DistanceLossPartials(b.In<float>(d), b.In<float>(dO), (float)invMu, (float)invMuO, b.Out<float>(partial), n),
               (b, k) => k.DistanceLossPartials(b.In<double>(d), b.In<double>(dO), invMu, invMuO, b.Out<double>(partial), n));
        return partial;
    }

    public Tensor DistanceLossBackward(Tensor d, Tensor dO, double invMu, double invMuO, double scale)
    {
        int n = (int)d.shape[0];
        var dbar = empty_like(d);
        Run(d, (b, k) => k.DistanceLossBackward(b.In<float>(d), b.In<float>(dO), (float)invMu, (float)invMuO, (float)scale, b.Out<float>(dbar), b.Scratch<float>(n), n),
               (b, k) => k.DistanceLossBackward(b.In<double>(d), b.In<double>(dO), invMu, invMuO, scale, b.Out<double>(dbar), b.Scratch<double>(n), n));
        return dbar;
    }

    public Tensor AngleLossPartials(Tensor g, Tensor inv, Tensor gO, Tensor invO)
    {
        int n = (int)g.shape[0];
        var partial = empty_like(g);
        Run(g, (b, k) => k.AngleLossPartials(b.In<float>(g), b.In<float>(inv), b.In<float>(gO), b.In<float>(invO), b.Out<float>(partial), n),
               (b, k) => k.AngleLossPartials(b.In<double>(g), b.In<double>(inv), b.In<double>(gO), b.In<double>(invO), b.Out<double>(partial), n));
        return partial;
    }

    public Tensor AngleLossBackward(Tensor g, Tensor inv, Tensor ginv, Tensor gO, Tensor invO, double scale)
    {
        int n = (int)g.shape[0];
        long nn = (long)n * n;
        var gbar = empty_like(g);
        Run(g, (b, k) => k.AngleLossBackward(b.In<float>(g), b.In<float>(inv), b.In<float>(ginv), b.In<float>(gO), b.In<float>(invO), (float)scale,
                    b.Scratch<float>(nn), b.Scratch<float>(nn), b.Scratch<float>(nn), b.Scratch<float>(nn), b.Out<float>(gbar), n),
               (b, k) => k.AngleLossBackward(b.In<double>(g), b.In<double>(inv), b.In<double>(ginv), b.In<double>(gO), b.In<double>(invO), scale,
                    b.Scratch<double>(nn), b.Scratch<double>(nn), b.Scratch<double>(nn), b.Scratch<double>(nn), b.Out<double>(gbar), n));
        return gbar;
    }
}
