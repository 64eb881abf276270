using System.Numerics;
using GpuKd.Kernels.Ilgpu;
using GpuKd.Kernels.Launch;

namespace GpuKd.Kernels.Programs;

/// <summary>
/// The two products of the library (DESIGN §3) as every program issues them: the Gram G = XXᵀ and the backward
/// product (M + Mᵀ)X. A device's library engine (cuBLAS through libtorch) takes those <see cref="ProductRoute"/>
/// gives it; otherwise the library's own kernel: register-tiled where its 64×64 blocks fill the device, naive
/// otherwise (always tiled on the CPU simulator, where fewer groups mean fewer costly barriers).
/// </summary>
public static class Products<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>g[z] = x[z] x[z]ᵀ for x [batch, n, d] → g [batch, n, n].</summary>
    public static void Gram(IKdDevice dev, Buf<T> x, Buf<T> g, int batch, int n, int d)
    {
        x.Need((long)batch * n * d, nameof(x));
        g.Need((long)batch * n * n, nameof(g));
        if (dev.Products is { } lib && lib.Takes(new ProductRoute.Shape(batch, n, n, d)) && lib.TryGram(x, g, batch, n, d)) return;
        MatMul(dev, x, x, g, new MatMulDims
        {
            M = n, N = n, K = d,
            ARow = d, ACol = 1, BRow = 1, BCol = d,   // B(k, j) = X[j, k]
            ABatch = (long)n * d, BBatch = (long)n * d, CBatch = (long)n * n,
        }, batch);
    }

    /// <summary>y[z] = (m[z] + m[z]ᵀ) x[z] for m [batch, n, n], x [batch, n, d] → y [batch, n, d].</summary>
    public static void SymProduct(IKdDevice dev, Buf<T> m, Buf<T> x, Buf<T> y, int batch, int n, int d)
    {
        m.Need((long)batch * n * n, nameof(m));
        x.Need((long)batch * n * d, nameof(x));
        y.Need((long)batch * n * d, nameof(y));
        if (dev.Products is { } lib && lib.Takes(new ProductRoute.Shape(batch, n, d, n)) && lib.TrySymProduct(m, x, y, batch, n, d)) return;
        MatMul(dev, m, x, y, new MatMulDims
        {
            M = n, N = d, K = n,
            ARow = n, ACol = 1, BRow = d, BCol = 1,
            ABatch = (long)n * n, BBatch = (long)n * d, CBatch = (long)n * d,
            SymmetrizeA = 1,
        }, batch);
    }

    /// <summary>c[z] = a[z] b[z]ᵀ for a [batch, m, k], b [batch, n, k] → c [batch, m, n] (e.g. FSP's top·botᵀ). The
    /// library's own kernel on every device (the library engine takes only <see cref="Gram"/> and <see cref="SymProduct"/>).</summary>
    public static void Cross(IKdDevice dev, Buf<T> a, Buf<T> b, Buf<T> c, int batch, int m, int n, int k)
    {
        a.Need((long)batch * m * k, nameof(a));
        b.Need((long)batch * n * k, nameof(b));
        c.Need((long)batch * m * n, nameof(c));
        MatMul(dev, a, b, c, new MatMulDims
        {
            M = m, N = n, K = k,
            ARow = k, ACol = 1, BRow = 1, BCol = k,   // B(kk, j) = b[j, kk]
            ABatch = (long)m * k, BBatch = (long)n * k, CBatch = (long)m * n,
        }, batch);
    }

    /// <summary>c[z] = a[z] b[z] (or a[z]ᵀ b[z] with <paramref name="transposeA"/>, a stored [batch, k, m]) for
    /// a [batch, m, k], b [batch, k, n] → c [batch, m, n]. The library's own kernel on every device.</summary>
    public static void Times(IKdDevice dev, Buf<T> a, Buf<T> b, Buf<T> c, int batch, int m, int n, int k, bool transposeA = false)
    {
        a.Need((long)batch * m * k, nameof(a));
        b.Need((long)batch * k * n, nameof(b));
        c.Need((long)batch * m * n, nameof(c));
        MatMul(dev, a, b, c, new MatMulDims
        {
            M = m, N = n, K = k,
            ARow = transposeA ? 1 : k, ACol = transposeA ? m : 1, BRow = n, BCol = 1,
            ABatch = (long)m * k, BBatch = (long)k * n, CBatch = (long)m * n,
        }, batch);
    }

    static void MatMul(IKdDevice dev, Buf<T> a, Buf<T> b, Buf<T> c, MatMulDims dims, int batch)
    {
        var t = dev.Traits;
        if (UseTiled(t, dims, batch)) Tiled(dev, a, b, c, dims, batch, t.TiledGroup, t.TiledGroup, t.TiledSlice);
        else Naive(dev, a, b, c, dims, batch, t.NaiveTile);
    }

    /// <summary>Auto: the register-tiled kernel once its blocks give at least a quarter of the multiprocessors a
    /// group (below that the naive kernel's 16× more groups win on a big GPU); always on the CPU simulator.</summary>
    static bool UseTiled(DeviceTraits t, MatMulDims dims, int batch)
    {
        switch (t.Product)
        {
            case ProductKernel.Naive: return false;
            case ProductKernel.Tiled: return true;
        }
        if (!t.IsCuda) return true;
        int side = MatMulTiledKernel.Micro * t.TiledGroup;
        long groups = (long)((dims.M + side - 1) / side) * ((dims.N + side - 1) / side) * batch;
        return groups * 4 >= t.Multiprocessors;
    }

    /// <summary>The naive product with tile×tile threads.</summary>
    public static void Naive(IKdDevice dev, Buf<T> a, Buf<T> b, Buf<T> c, MatMulDims dims, int batch, int tile)
        => dev.Launch(K<T>.MatMul, LaunchShape.Groups((dims.N + tile - 1) / tile, (dims.M + tile - 1) / tile, batch, tile, tile, 2 * tile * tile * K<T>.Size),
                      a, b, c, dims);

    /// <summary>The register-tiled product with an explicit group (tx×ty threads, multiples of 4) and K slice
    /// (dividing tx·ty); the 16×16×16 GPU shape has its own entry point with the sizes as constants.</summary>
    public static void Tiled(IKdDevice dev, Buf<T> a, Buf<T> b, Buf<T> c, MatMulDims dims, int batch, int tx, int ty, int bk)
    {
        if (tx % 4 != 0 || ty % 4 != 0 || bk <= 0 || tx * ty % bk != 0)
            throw new ArgumentException($"tiled product group {tx}x{ty}, slice {bk}: group sides must be multiples of 4 and the slice must divide {tx * ty}.");
        int m = MatMulTiledKernel.Micro;
        var shape = LaunchShape.Groups((dims.N + m * tx - 1) / (m * tx), (dims.M + m * ty - 1) / (m * ty), batch, tx, ty,
                                       MatMulTiledKernel.SharedElements(tx, ty, bk) * K<T>.Size);
        if (tx == MatMulTiledKernel.Gpu && ty == MatMulTiledKernel.Gpu && bk == MatMulTiledKernel.Gpu) dev.Launch(K<T>.MatMul16, shape, a, b, c, dims);
        else dev.Launch(K<T>.MatMulTiled, shape, a, b, c, dims, bk);
    }
}
