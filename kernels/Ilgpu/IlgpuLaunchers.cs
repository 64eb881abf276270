using System.Numerics;
using ILGPU;
using ILGPU.Runtime;

namespace GpuKd.Kernels.Ilgpu;

/// <summary>
/// Host-side launchers of every ILGPU kernel for one element type: each kernel is loaded
/// (compiled) once, on first use, and launched over views the caller owns. Sizes are
/// checked here, before launch, because a bad index inside a kernel is not recoverable.
/// Callers hold <see cref="IlgpuDevice.Gate"/> and synchronise before reading results.
/// </summary>
public sealed class IlgpuLaunchers<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    readonly IlgpuDevice _device;
    readonly Accelerator _acc;

    readonly Lazy<Action<KernelConfig, ArrayView<T>, ArrayView<T>, ArrayView<T>, MatMulDims>> _matMul;
    readonly Lazy<Action<KernelConfig, ArrayView<T>, ArrayView<T>, ArrayView<T>, MatMulDims, int>> _matMulTiled;
    readonly Lazy<Action<KernelConfig, ArrayView<T>, ArrayView<T>, ArrayView<T>, MatMulDims>> _matMul16;
    readonly Lazy<Action<KernelConfig, ArrayView<T>, ArrayView<T>, int>> _rowNorms;
    readonly Lazy<Action<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, int, T>> _scaleRows;
    readonly Lazy<Action<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, int, T>> _normBackward;
    readonly Lazy<Action<Index1D, ArrayView<T>, ArrayView<T>, int, int, T>> _columnMeans;
    readonly Lazy<Action<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, int>> _subtractMeans;
    readonly Lazy<Action<Index1D, ArrayView<T>, ArrayView<T>, int, int>> _columnSums;

    internal IlgpuLaunchers(IlgpuDevice device)
    {
        _device = device;
        _acc = device.Accelerator;
        _matMul = new(() => _acc.LoadStreamKernel<ArrayView<T>, ArrayView<T>, ArrayView<T>, MatMulDims>(MatMulKernel.MatMul));
        _matMulTiled = new(() => _acc.LoadStreamKernel<ArrayView<T>, ArrayView<T>, ArrayView<T>, MatMulDims, int>(MatMulTiledKernel.MatMul));
        _matMul16 = new(() => _acc.LoadStreamKernel<ArrayView<T>, ArrayView<T>, ArrayView<T>, MatMulDims>(MatMulTiledKernel.MatMul16));
        _rowNorms = new(() => _acc.LoadStreamKernel<ArrayView<T>, ArrayView<T>, int>(RowKernels.RowNorms));
        _scaleRows = new(() => _acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, int, T>(RowKernels.ScaleRows));
        _normBackward = new(() => _acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, int, T>(RowKernels.NormalizeRowsBackward));
        _columnMeans = new(() => _acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<T>, ArrayView<T>, int, int, T>(RowKernels.ColumnMeans));
        _columnSums = new(() => _acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<T>, ArrayView<T>, int, int>(RowKernels.ColumnSums));
        _subtractMeans = new(() => _acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, int>(RowKernels.SubtractColumnMeans));
    }

    static void Need(long have, long need, string what)
    {
        if (have < need) throw new ArgumentException($"{what}: view holds {have} elements, {need} needed.", what);
    }

    /// <summary>g[z] = x[z] x[z]ᵀ for x [batch, n, d] → g [batch, n, n].</summary>
    public void Gram(ArrayView<T> x, ArrayView<T> g, int batch, int n, int d)
    {
        Need(x.Length, (long)batch * n * d, nameof(x));
        Need(g.Length, (long)batch * n * n, nameof(g));
        var dims = new MatMulDims
        {
            M = n, N = n, K = d,
            ARow = d, ACol = 1, BRow = 1, BCol = d,   // B(k, j) = X[j, k]
            ABatch = (long)n * d, BBatch = (long)n * d, CBatch = (long)n * n,
        };
        MatMul(x, x, g, dims, batch);
    }

    /// <summary>y[z] = (m[z] + m[z]ᵀ) x[z] for m [batch, n, n], x [batch, n, d] → y [batch, n, d].</summary>
    public void SymProduct(ArrayView<T> m, ArrayView<T> x, ArrayView<T> y, int batch, int n, int d)
    {
        Need(m.Length, (long)batch * n * n, nameof(m));
        Need(x.Length, (long)batch * n * d, nameof(x));
        Need(y.Length, (long)batch * n * d, nameof(y));
        var dims = new MatMulDims
        {
            M = n, N = d, K = n,
            ARow = n, ACol = 1, BRow = d, BCol = 1,
            ABatch = (long)n * n, BBatch = (long)n * d, CBatch = (long)n * d,
            SymmetrizeA = 1,
        };
        MatMul(m, x, y, dims, batch);
    }

    void MatMul(ArrayView<T> a, ArrayView<T> b, ArrayView<T> c, MatMulDims dims, int batch)
    {
        if (UseTiled(dims, batch)) MatMulTiled(a, b, c, dims, batch, _device.TiledGroup, _device.TiledGroup, _device.TiledSlice);
        else MatMulNaive(a, b, c, dims, batch, _device.Tile);
    }

    /// <summary>The naive product with t×t threads (t·t ≤ the device's group limit).</summary>
    internal void MatMulNaive(ArrayView<T> a, ArrayView<T> b, ArrayView<T> c, MatMulDims dims, int batch, int t)
    {
        var grid = new Index3D((dims.N + t - 1) / t, (dims.M + t - 1) / t, batch);
        var config = new KernelConfig(grid, new Index3D(t, t, 1), SharedMemoryConfig.RequestDynamic<T>(2 * t * t));
        _matMul.Value(config, a, b, c, dims);
    }

    /// <summary>Auto: the register-tiled kernel once its 64×64 blocks give at least a quarter of the
    /// multiprocessors a group (below that the naive kernel's 16× more groups win on a big GPU);
    /// always on the CPU simulator, where fewer groups mean fewer costly barriers.</summary>
    bool UseTiled(MatMulDims dims, int batch)
    {
        switch (_device.Product)
        {
            case ProductKernel.Naive: return false;
            case ProductKernel.Tiled: return true;
        }
        if (!_device.IsCuda) return true;
        int side = MatMulTiledKernel.Micro * _device.TiledGroup;
        long groups = (long)((dims.M + side - 1) / side) * ((dims.N + side - 1) / side) * batch;
        return groups * 4 >= _acc.NumMultiprocessors;
    }

    /// <summary>The register-tiled product with an explicit group (tx×ty threads, multiples of 4) and K slice
    /// (dividing tx·ty): the launchers' choice on a device, any legal shape in the kernel tests.</summary>
    internal void MatMulTiled(ArrayView<T> a, ArrayView<T> b, ArrayView<T> c, MatMulDims dims, int batch, int tx, int ty, int bk)
    {
        if (tx % 4 != 0 || ty % 4 != 0 || bk <= 0 || tx * ty % bk != 0)
            throw new ArgumentException($"tiled product group {tx}x{ty}, slice {bk}: group sides must be multiples of 4 and the slice must divide {tx * ty}.");
        int m = MatMulTiledKernel.Micro;
        var grid = new Index3D((dims.N + m * tx - 1) / (m * tx), (dims.M + m * ty - 1) / (m * ty), batch);
        var config = new KernelConfig(grid, new Index3D(tx, ty, 1), SharedMemoryConfig.RequestDynamic<T>(MatMulTiledKernel.SharedElements(tx, ty, bk)));
        // The GPU shape has its own entry point with the sizes as constants (unrolled, immediate offsets).
        if (tx == MatMulTiledKernel.Gpu && ty == MatMulTiledKernel.Gpu && bk == MatMulTiledKernel.Gpu) _matMul16.Value(config, a, b, c, dims);
        else _matMulTiled.Value(config, a, b, c, dims, bk);
    }

    /// <summary>One group of <see cref="IlgpuDevice.RowGroup"/> threads per row, one shared element per thread for
    /// the lane reductions (<see cref="GroupReduce"/>).</summary>
    KernelConfig RowGroups(int rows)
    {
        int w = _device.RowGroup;
        return new KernelConfig(new Index1D(rows), new Index1D(w), SharedMemoryConfig.RequestDynamic<T>(w));
    }

    /// <summary>norms[r] = ‖x[r, :]‖ (overflow-safe) for x [rows, d].</summary>
    public void RowNorms(ArrayView<T> x, ArrayView<T> norms, int rows, int d)
    {
        Need(x.Length, (long)rows * d, nameof(x));
        Need(norms.Length, rows, nameof(norms));
        if (rows == 0) return;
        _rowNorms.Value(RowGroups(rows), x, norms, d);
    }

    /// <summary>y = x / max(norms[row], eps) for x, y [rows, d].</summary>
    public void ScaleRows(ArrayView<T> x, ArrayView<T> norms, ArrayView<T> y, int rows, int d, T eps)
    {
        Need(x.Length, (long)rows * d, nameof(x));
        Need(y.Length, (long)rows * d, nameof(y));
        Need(norms.Length, rows, nameof(norms));
        _scaleRows.Value(checked(rows * d), x, norms, y, d, eps);
    }

    /// <summary>xbar = backward of row normalisation (see <see cref="RowKernels.NormalizeRowsBackward{T}"/>).</summary>
    public void NormalizeRowsBackward(ArrayView<T> ybar, ArrayView<T> y, ArrayView<T> norms, ArrayView<T> xbar, int rows, int d, T eps)
    {
        Need(ybar.Length, (long)rows * d, nameof(ybar));
        Need(xbar.Length, (long)rows * d, nameof(xbar));
        Need(y.Length, (long)rows * d, nameof(y));
        Need(norms.Length, rows, nameof(norms));
        _normBackward.Value(rows, ybar, y, norms, xbar, d, eps);
    }

    /// <summary>xc = x − column means of x [rows, d]; <paramref name="mean"/> is d scratch elements.</summary>
    public void Centre(ArrayView<T> x, ArrayView<T> mean, ArrayView<T> xc, int rows, int d)
    {
        Need(x.Length, (long)rows * d, nameof(x));
        Need(mean.Length, d, nameof(mean));
        Need(xc.Length, (long)rows * d, nameof(xc));
        _columnMeans.Value(d, x, mean, rows, d, T.One / T.CreateTruncating(rows));
        _subtractMeans.Value(checked(rows * d), x, mean, xc, d);
    }

    /// <summary>Σ of all entries of x [rows, d] without copying them to the host: compensated column sums on the
    /// device (<see cref="RowKernels.ColumnSums{T}"/>) into <paramref name="columnSums"/> (d scratch elements), then
    /// those d values added in index order in double here. Synchronises once; deterministic.</summary>
    public double Sum(ArrayView<T> x, ArrayView<T> columnSums, int rows, int d)
    {
        Need(x.Length, (long)rows * d, nameof(x));
        Need(columnSums.Length, d, nameof(columnSums));
        _columnSums.Value(d, x, columnSums, rows, d);
        var host = new T[d];
        columnSums.SubView(0, d).CopyToCPU(host);   // a blocking copy: waits for the kernel
        double s = 0;
        foreach (var v in host) s += double.CreateTruncating(v);
        return s;
    }
}
