using GpuKd.Kernels.Ilgpu;
using ILGPU;
using static TorchSharp.torch;

namespace GpuKd.Device;

/// <summary>
/// The structured-KD kernels on the ILGPU backend (<see cref="SkdKernels"/>), for the ops in <c>Ops/Skd*.cs</c>.
/// Both run in float64 whatever the input dtype: a float32 input is widened by libtorch first (a float64 copy of
/// the logits / of the pixel chunk, the same size as the float64 output the op needs anyway), because an ILGPU
/// kernel cannot convert a generic element type to double. Inputs are contiguous CPU tensors (CUDA tensors are
/// staged through CPU memory by the caller, DESIGN §6).
/// </summary>
internal static class SkdDevice
{
    /// <summary>Launch sequences run so far (pixel-wise, node normalisation): lets the tests see that the ILGPU
    /// backend really went through these kernels.</summary>
    internal static long PixelwiseRuns, NodesRuns;

    /// <summary>Pixel-wise terms (float64 [B·P]) and the gradients gs/gt (input dtype, null to skip) of NCHW logits
    /// zs, zt [B, K, H, W] (see <see cref="SkdKernels.Pixelwise{T}"/>); same contract as <see cref="Kernels.Cpu.CpuSkdPixelwise"/>.</summary>
    public static void Pixelwise(IlgpuBackend backend, Tensor zs, Tensor zt, Tensor? gs, Tensor? gt, Tensor terms,
        int b, int k, int p, double invT, bool kl, double scale)
    {
        using var scope = NewDisposeScope();
        bool wide = zs.dtype != ScalarType.Float64;
        Tensor s64 = wide ? zs.to(ScalarType.Float64) : zs, t64 = wide ? zt.to(ScalarType.Float64) : zt;
        Tensor? gs64 = gs is null ? null : wide ? empty_like(s64) : gs;
        Tensor? gt64 = gt is null ? null : wide ? empty_like(t64) : gt;
        Interlocked.Increment(ref PixelwiseRuns);
        var args = new SkdPixelArgs<double> { K = k, P = p, Kl = kl ? 1 : 0, GradS = gs is null ? 0 : 1, GradT = gt is null ? 0 : 1, InvT = invT, Scale = scale };
        var device = backend.Device;
        lock (device.Gate)
        {
            using var binder = new IlgpuBinder(device);
            var unused = binder.Scratch<double>(1);
            IlgpuLossLaunchers<double>.For(device).SkdPixelwise(binder.In<double>(s64), binder.In<double>(t64),
                gs64 is null ? unused : binder.Out<double>(gs64), gt64 is null ? unused : binder.Out<double>(gt64), binder.Out<double>(terms), b, args);
            binder.Finish();
        }
        if (wide)
        {
            gs?.copy_(gs64!);
            gt?.copy_(gt64!);
        }
    }

    /// <summary>Node normalisation of the pixel columns [p0, p0 + m) of each image of x [I, C, N] (contiguous CPU):
    /// hat float64 [I, C, m] and norm float64 [I, m] (see <see cref="SkdKernels.Nodes{T}"/>), one launch per image.</summary>
    public static (Tensor Hat, Tensor Norm) Nodes(IlgpuBackend backend, Tensor x, long p0, int m, bool offset, double eps)
    {
        long images = x.shape[0], c = x.shape[1];
        var hat = empty(new[] { images, c, m }, dtype: ScalarType.Float64);
        var norm = empty(new[] { images, (long)m }, dtype: ScalarType.Float64);
        using var scope = NewDisposeScope();
        Interlocked.Increment(ref NodesRuns);
        // A float32 input: widen only the chunk (a copy the size of hat), which then starts at column 0.
        var x64 = x.dtype == ScalarType.Float64 ? x : x.narrow(2, p0, m).to(ScalarType.Float64).contiguous();
        long stride = x64.shape[2], start = x.dtype == ScalarType.Float64 ? p0 : 0;
        var device = backend.Device;
        lock (device.Gate)
        {
            using var binder = new IlgpuBinder(device);
            var launchers = IlgpuLossLaunchers<double>.For(device);
            ArrayView<double> xv = binder.In<double>(x64), hv = binder.Out<double>(hat), nv = binder.Out<double>(norm);
            for (long i = 0; i < images; i++)
                launchers.SkdNodes(xv.SubView(i * c * stride, c * stride), hv.SubView(i * c * m, c * m), nv.SubView(i * m, m),
                                   stride, (int)c, start, m, offset, eps);
            binder.Finish();
        }
        return (hat, norm);
    }
}
