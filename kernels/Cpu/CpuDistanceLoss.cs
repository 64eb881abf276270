using System.Numerics;
using System.Runtime.CompilerServices;

namespace GpuKd.Kernels.Cpu;

/// <summary>
/// RKD distance-loss epilogue on the CPU (the maths of <see cref="Ilgpu.DistanceLossKernels"/>):
/// with ψ = d·invMu and ψ' = d'·invMu' (this side and the other), the loss rows
/// Σ_j h(ψ_ij − ψ'_ij) and the gradient d̄ = r·invMu − [i ≠ j] (Σ r·d)·invMu²/m with
/// r = scale·h'(ψ − ψ'). One pass each, no b² temporaries.
/// </summary>
internal static unsafe class CpuDistanceLoss
{
    /// <summary>partial[i] = Σ_j h(d_ij·invMu − dO_ij·invMuO), h = smooth-L1 (β = 1).</summary>
    public static void Partials<T>(T* d, T* dO, T invMu, T invMuO, T* partial, int n) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CpuParallel.For(n, 8L * n, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (i) =>
        {
            var buf = System.Buffers.ArrayPool<T>.Shared.Rent(2 * n);
            fixed (T* scratch = buf)
            {
                Scaled(d + (long)i * n, invMu, scratch, n);
                Scaled(dO + (long)i * n, invMuO, scratch + n, n);
                partial[i] = Simd.SmoothL1Sum(scratch, scratch + n, n);
            }
            System.Buffers.ArrayPool<T>.Shared.Return(buf);
        });
    }

    /// <summary>d̄ [n, n] of this side (see the class remarks); <paramref name="rowDots"/> is n scratch.</summary>
    public static void Backward<T>(T* d, T* dO, T invMu, T invMuO, T scale, T* dbar, T* rowDots, int n) where T : unmanaged, IFloatingPointIeee754<T>
    {
        // Pass 1: r into dbar, and Σ_j r_ij d_ij per row.
        CpuParallel.For(n, 8L * n, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (i) =>
        {
            var buf = System.Buffers.ArrayPool<T>.Shared.Rent(2 * n);
            fixed (T* scratch = buf)
            {
                long o = (long)i * n;
                Scaled(d + o, invMu, scratch, n);
                Scaled(dO + o, invMuO, scratch + n, n);
                Simd.ClampedDifference(scratch, scratch + n, scale, dbar + o, n);
                rowDots[i] = Simd.Dot(dbar + o, d + o, n);
            }
            System.Buffers.ArrayPool<T>.Shared.Return(buf);
        });
        // The μ term: fixed-order sum of the row dots.
        T s = T.Zero;
        for (int i = 0; i < n; i++) s += rowDots[i];
        T m = T.CreateTruncating((long)n * (n - 1));
        T muTerm = s * invMu * invMu / m;
        // Pass 2: d̄ = r·invMu − μ-term off the diagonal.
        CpuParallel.For(n, 2L * n, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (i) =>
        {
            T* row = dbar + (long)i * n;
            for (int j = 0; j < n; j++) row[j] = row[j] * invMu - (j == i ? T.Zero : muTerm);
        });
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    static void Scaled<T>(T* x, T s, T* outp, int n) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int w = Vector<T>.Count, k = 0;
        var vs = new Vector<T>(s);
        for (; k <= n - w; k += w) (Vector.Load(x + k) * vs).Store(outp + k);
        for (; k < n; k++) outp[k] = x[k] * s;
    }
}
