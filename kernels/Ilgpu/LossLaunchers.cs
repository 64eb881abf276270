using System.Collections.Concurrent;
using System.Numerics;
using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;

namespace GpuKd.Kernels.Ilgpu;

/// <summary>
/// Host-side launchers of the loss epilogue kernels (SP, CC, IRG edge; structured KD runs as programs, SkdPrograms) for one element type,
/// kept apart from <see cref="IlgpuLaunchers{T}"/> (the relation-op primitives): each kernel is
/// loaded once per device, on first use; sizes are checked before launch. Callers hold
/// <see cref="IlgpuDevice.Gate"/> and synchronise before reading results.
/// </summary>
public sealed class IlgpuLossLaunchers<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    static readonly ConditionalWeakTable<IlgpuDevice, IlgpuLossLaunchers<T>> PerDevice = new();

    readonly IlgpuDevice _device;
    readonly Lazy<Action<KernelConfig, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, int, T>> _spLossRows;
    readonly Lazy<Action<KernelConfig, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, int, T, T>> _spBackwardRows;

    readonly Lazy<Action<KernelConfig, ArrayView<T>, ArrayView<T>, ArrayView<T>, int, int, int, T, T>> _ccLossRows;
    readonly Lazy<Action<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, int, int, T, T, T>> _ccBackward;

    readonly Lazy<Action<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, EdgeArgs<T>>> _edgeRowMax;
    readonly Lazy<Action<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, EdgeArgs<T>>> _edgeLossRows, _edgeDotRows, _edgeBackward;


    IlgpuLossLaunchers(IlgpuDevice device)
    {
        _device = device;
        var acc = device.Accelerator;
        _spLossRows = new(() => acc.LoadStreamKernel<ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, int, T>(SpKernels.LossRows));
        _spBackwardRows = new(() => acc.LoadStreamKernel<ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, int, T, T>(SpKernels.BackwardRows));
        _ccLossRows = new(() => acc.LoadStreamKernel<ArrayView<T>, ArrayView<T>, ArrayView<T>, int, int, int, T, T>(CcKernels.LossRows));
        _ccBackward = new(() => acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, int, int, T, T, T>(CcKernels.Backward));
        _edgeRowMax = new(() => acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, EdgeArgs<T>>(EdgeKernels.RowMax));
        _edgeLossRows = new(() => acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, EdgeArgs<T>>(EdgeKernels.LossRows));
        _edgeDotRows = new(() => acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, EdgeArgs<T>>(EdgeKernels.DotRows));
        _edgeBackward = new(() => acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, EdgeArgs<T>>(EdgeKernels.Backward));
    }

    /// <summary>The launchers of <paramref name="device"/> (created once per device).</summary>
    public static IlgpuLossLaunchers<T> For(IlgpuDevice device) => PerDevice.GetValue(device, d => new IlgpuLossLaunchers<T>(d));

    /// <summary>One group of <see cref="IlgpuDevice.RowGroup"/> threads per row, W shared elements for the lane tree.</summary>
    KernelConfig RowGroups(int rows)
    {
        int w = _device.RowGroup;
        return new KernelConfig(new Index1D(rows), new Index1D(w), SharedMemoryConfig.RequestDynamic<T>(w));
    }

    static void Need(long have, long need, string what)
    {
        if (have < need) throw new ArgumentException($"{what}: view holds {have} elements, {need} needed.", what);
    }

    /// <summary>SP loss per row (see <see cref="SpKernels.LossRows{T}"/>): Grams [n, n], norms [n], partial [n].</summary>
    public void SpLossRows(ArrayView<T> gs, ArrayView<T> ns, ArrayView<T> gt, ArrayView<T> nt, ArrayView<T> partial, int n, T eps)
    {
        foreach (var (v, name) in new[] { (gs, nameof(gs)), (gt, nameof(gt)) }) Need(v.Length, (long)n * n, name);
        foreach (var (v, name) in new[] { (ns, nameof(ns)), (nt, nameof(nt)), (partial, nameof(partial)) }) Need(v.Length, n, name);
        if (n > 0) _spLossRows.Value(RowGroups(n), gs, ns, gt, nt, partial, n, eps);
    }

    /// <summary>SP backward epilogue (see <see cref="SpKernels.BackwardRows{T}"/>) into gbar [n, n].</summary>
    public void SpBackwardRows(ArrayView<T> gself, ArrayView<T> nself, ArrayView<T> gother, ArrayView<T> nother, ArrayView<T> gbar, int n, T eps, T scale)
    {
        foreach (var (v, name) in new[] { (gself, nameof(gself)), (gother, nameof(gother)), (gbar, nameof(gbar)) }) Need(v.Length, (long)n * n, name);
        foreach (var (v, name) in new[] { (nself, nameof(nself)), (nother, nameof(nother)) }) Need(v.Length, n, name);
        if (n > 0) _spBackwardRows.Value(RowGroups(n), gself, nself, gother, nother, gbar, n, eps, scale);
    }

    /// <summary>CC loss per row (see <see cref="CcKernels.LossRows{T}"/>): A [n, n] per side, partial [n].</summary>
    public void CcLossRows(ArrayView<T> aS, ArrayView<T> aT, ArrayView<T> partial, int n, int kind, int order, T t, T c0)
    {
        Need(aS.Length, (long)n * n, nameof(aS));
        Need(aT.Length, (long)n * n, nameof(aT));
        Need(partial.Length, n, nameof(partial));
        if (n > 0) _ccLossRows.Value(RowGroups(n), aS, aT, partial, n, kind, order, t, c0);
    }

    /// <summary>CC backward epilogue (see <see cref="CcKernels.Backward{T}"/>) into abar [n, n].</summary>
    public void CcBackward(ArrayView<T> aSelf, ArrayView<T> aOther, ArrayView<T> abar, int n, int kind, int order, T t, T c0, T scale)
    {
        foreach (var (v, name) in new[] { (aSelf, nameof(aSelf)), (aOther, nameof(aOther)), (abar, nameof(abar)) }) Need(v.Length, (long)n * n, name);
        _ccBackward.Value(checked(n * n), aSelf, aOther, abar, kind, order, t, c0, scale);
    }

    /// <summary>IRG edge row maxima and tie counts of one side (see <see cref="EdgeKernels.RowMax{T}"/>).</summary>
    public void EdgeRowMax(ArrayView<T> g, ArrayView<T> x, ArrayView<T> rowMax, ArrayView<T> rowCount, EdgeArgs<T> a)
    {
        Need(g.Length, (long)a.N * a.N, nameof(g));
        Need(x.Length, (long)a.N * a.DSelf, nameof(x));
        Need(rowMax.Length, a.N, nameof(rowMax));
        Need(rowCount.Length, a.N, nameof(rowCount));
        _edgeRowMax.Value(a.N, g, x, rowMax, rowCount, a);
    }

    void EdgePair(ArrayView<T> gs, ArrayView<T> xs, ArrayView<T> go, ArrayView<T> xo, ArrayView<T> output, long outputLength, EdgeArgs<T> a)
    {
        Need(gs.Length, (long)a.N * a.N, nameof(gs));
        Need(go.Length, (long)a.N * a.N, nameof(go));
        Need(xs.Length, (long)a.N * a.DSelf, nameof(xs));
        Need(xo.Length, (long)a.N * a.DOther, nameof(xo));
        Need(output.Length, outputLength, nameof(output));
    }

    /// <summary>IRG edge loss per row (see <see cref="EdgeKernels.LossRows{T}"/>).</summary>
    public void EdgeLossRows(ArrayView<T> gs, ArrayView<T> xs, ArrayView<T> go, ArrayView<T> xo, ArrayView<T> partial, EdgeArgs<T> a)
    {
        EdgePair(gs, xs, go, xo, partial, a.N, a);
        _edgeLossRows.Value(a.N, gs, xs, go, xo, partial, a);
    }

    /// <summary>Row sums of Ē ⊙ E^self (see <see cref="EdgeKernels.DotRows{T}"/>).</summary>
    public void EdgeDotRows(ArrayView<T> gs, ArrayView<T> xs, ArrayView<T> go, ArrayView<T> xo, ArrayView<T> partial, EdgeArgs<T> a)
    {
        EdgePair(gs, xs, go, xo, partial, a.N, a);
        _edgeDotRows.Value(a.N, gs, xs, go, xo, partial, a);
    }

    /// <summary>Ḡ [n, n] of the side "self" (see <see cref="EdgeKernels.Backward{T}"/>).</summary>
    public void EdgeBackward(ArrayView<T> gs, ArrayView<T> xs, ArrayView<T> go, ArrayView<T> xo, ArrayView<T> gbar, EdgeArgs<T> a)
    {
        EdgePair(gs, xs, go, xo, gbar, (long)a.N * a.N, a);
        _edgeBackward.Value(a.N, gs, xs, go, xo, gbar, a);
    }
}
