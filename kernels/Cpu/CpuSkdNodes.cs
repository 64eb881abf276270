using System.Numerics;
using System.Runtime.CompilerServices;

namespace GpuKd.Kernels.Cpu;

/// <summary>
/// Node normalisation of the structured-KD pair-wise loss on an NCHW block: x is [C, N] with row stride N (one image),
/// the nodes are its columns. For the pixel columns [p0, p0 + m): norm_p = √Σ_c x[c,p]² (in double) and
/// hat[c, p − p0] = x[c,p] / (norm_p + eps) (the authors', norm held constant) or x[c,p] / max(norm_p, eps), written
/// to a contiguous [C, m] buffer of float64 (the Gram paths in double) or float32 (the single-precision Gram path). One read pass for the norms and one read/write pass for the scaling, in
/// blocks of pixels (a block's C rows stay in cache between the passes), instead of five libtorch passes and their
/// temporaries.
/// </summary>
internal static unsafe class CpuSkdNodes
{
    const int Block = 256;

    /// <summary>hat [C, m] (contiguous) and norm [m] of the columns [p0, p0 + m) of x [C, ·] with row stride <paramref name="stride"/>;
    /// <paramref name="offset"/>: divide by norm + eps, else by max(norm, eps). Norms and quotients in double, then
    /// rounded once to <typeparamref name="TOut"/>.</summary>
    public static void Normalize<T, TOut>(T* x, long stride, int c, long p0, int m, TOut* hat, double* norm, bool offset, double eps)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TOut : unmanaged, IFloatingPointIeee754<TOut>
    {
        int blocks = (m + Block - 1) / Block;
        CpuParallel.For(blocks, 3L * c * Block, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (blk) =>
        {
            int q0 = blk * Block, w = Math.Min(Block, m - q0);
            // Vector lanes of double: the SIMD body handles 2·L pixels at a time (a Vector<float> widened to two
            // Vector<double>), the scalar tail the rest; same operations, same order (x², summed over channels in
            // ascending order; then x·(1/norm) in double, rounded once), so both give bit-identical results.
            int lanes = Vector<double>.Count, wv = Simd<T>() && Simd<TOut>() ? w - w % (2 * lanes) : 0;
            double* inv = stackalloc double[Block];
            new Span<double>(inv, w).Clear();
            for (int ch = 0; ch < c; ch++)
            {
                T* row = x + ch * stride + p0 + q0;
                int q = 0;
                for (; q < wv; q += 2 * lanes)
                {
                    Load(row + q, out var lo, out var hi);
                    Unsafe.Write(inv + q, Unsafe.Read<Vector<double>>(inv + q) + lo * lo);
                    Unsafe.Write(inv + q + lanes, Unsafe.Read<Vector<double>>(inv + q + lanes) + hi * hi);
                }
                for (; q < w; q++) { double v = double.CreateTruncating(row[q]); inv[q] += v * v; }
            }
            for (int q = 0; q < w; q++)
            {
                double n = Math.Sqrt(inv[q]);
                norm[q0 + q] = n;
                inv[q] = 1 / (offset ? n + eps : Math.Max(n, eps));
            }
            for (int ch = 0; ch < c; ch++)
            {
                T* row = x + ch * stride + p0 + q0;
                TOut* o = hat + (long)ch * m + q0;
                int q = 0;
                for (; q < wv; q += 2 * lanes)
                {
                    Load(row + q, out var lo, out var hi);
                    Store(o + q, lo * Unsafe.Read<Vector<double>>(inv + q), hi * Unsafe.Read<Vector<double>>(inv + q + lanes));
                }
                for (; q < w; q++) o[q] = TOut.CreateTruncating(double.CreateTruncating(row[q]) * inv[q]);
            }
        });
    }

    static bool Simd<T>() => Vector.IsHardwareAccelerated && (typeof(T) == typeof(float) || typeof(T) == typeof(double));

    /// <summary>2·L consecutive elements as two Vector&lt;double&gt; (float32 widened exactly).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Load<T>(T* p, out Vector<double> lo, out Vector<double> hi) where T : unmanaged
    {
        if (typeof(T) == typeof(float)) Vector.Widen(Unsafe.Read<Vector<float>>(p), out lo, out hi);
        else if (typeof(T) == typeof(double)) { lo = Unsafe.Read<Vector<double>>(p); hi = Unsafe.Read<Vector<double>>((double*)p + Vector<double>.Count); }
        else throw new NotSupportedException(typeof(T).Name);
    }

    /// <summary>Stores two Vector&lt;double&gt; as 2·L consecutive elements (float32: each rounded once).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Store<T>(T* p, Vector<double> lo, Vector<double> hi) where T : unmanaged
    {
        if (typeof(T) == typeof(float)) Unsafe.Write(p, Vector.Narrow(lo, hi));
        else if (typeof(T) == typeof(double)) { Unsafe.Write(p, lo); Unsafe.Write((double*)p + Vector<double>.Count, hi); }
        else throw new NotSupportedException(typeof(T).Name);
    }
}
