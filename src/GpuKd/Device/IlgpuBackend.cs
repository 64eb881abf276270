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
}
