using System.Collections.Concurrent;
using System.Numerics;
using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;

namespace GpuKd.Kernels.Ilgpu;

/// <summary>
/// Host-side launchers of the structured-KD kernels for one element type,
/// kept apart from <see cref="IlgpuLaunchers{T}"/> (the relation-op primitives): each kernel is
/// loaded once per device, on first use; sizes are checked before launch. Callers hold
/// <see cref="IlgpuDevice.Gate"/> and synchronise before reading results.
/// </summary>
public sealed class IlgpuLossLaunchers<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    static readonly ConditionalWeakTable<IlgpuDevice, IlgpuLossLaunchers<T>> PerDevice = new();

    readonly Lazy<Action<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, SkdPixelArgs<T>>> _skdPixelwise;
    readonly Lazy<Action<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, long, int, long, int, int, T>> _skdNodes;

    IlgpuLossLaunchers(IlgpuDevice device)
    {
        var acc = device.Accelerator;
        _skdPixelwise = new(() => acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, SkdPixelArgs<T>>(SkdKernels.Pixelwise));
        _skdNodes = new(() => acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, long, int, long, int, int, T>(SkdKernels.Nodes));
    }

    /// <summary>The launchers of <paramref name="device"/> (created once per device).</summary>
    public static IlgpuLossLaunchers<T> For(IlgpuDevice device) => PerDevice.GetValue(device, d => new IlgpuLossLaunchers<T>(d));

    static void Need(long have, long need, string what)
    {
        if (have < need) throw new ArgumentException($"{what}: view holds {have} elements, {need} needed.", what);
    }

    /// <summary>Structured-KD pixel-wise terms [b·P] and gradients (see <see cref="SkdKernels.Pixelwise{T}"/>) of NCHW
    /// logits [b, K, P]; gs/gt are only written (and only checked) where the args ask for them.</summary>
    public void SkdPixelwise(ArrayView<T> zs, ArrayView<T> zt, ArrayView<T> gs, ArrayView<T> gt, ArrayView<T> terms, int b, SkdPixelArgs<T> a)
    {
        long pixels = (long)b * a.P, all = pixels * a.K;
        Need(zs.Length, all, nameof(zs));
        Need(zt.Length, all, nameof(zt));
        if (a.GradS != 0) Need(gs.Length, all, nameof(gs));
        if (a.GradT != 0) Need(gt.Length, all, nameof(gt));
        Need(terms.Length, pixels, nameof(terms));
        _skdPixelwise.Value(checked((int)pixels), zs, zt, gs, gt, terms, a);
    }

    /// <summary>Structured-KD node normalisation of the columns [p0, p0 + m) of x [c, ·] (row stride
    /// <paramref name="stride"/>) into hat [c, m] and norm [m] (see <see cref="SkdKernels.Nodes{T}"/>).</summary>
    public void SkdNodes(ArrayView<T> x, ArrayView<T> hat, ArrayView<T> norm, long stride, int c, long p0, int m, bool offset, T eps)
    {
        if (p0 < 0 || m < 0 || p0 + m > stride) throw new ArgumentException($"columns [{p0}, {p0 + m}) outside a row of {stride}.", nameof(p0));
        Need(x.Length, (long)c * stride, nameof(x));
        Need(hat.Length, (long)c * m, nameof(hat));
        Need(norm.Length, m, nameof(norm));
        if (m > 0) _skdNodes.Value(m, x, hat, norm, stride, c, p0, m, offset ? 1 : 0, eps);
    }
}
