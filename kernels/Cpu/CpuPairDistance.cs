using System.Numerics;
using System.Runtime.CompilerServices;

namespace GpuKd.Kernels.Cpu;

/// <summary>The Gram-form squared distance, recomputed from the features where round-off dominates it: the
/// CPU instantiation of the single source <see cref="Maths.PairMath"/> (the ILGPU kernels use the same).</summary>
internal static unsafe class CpuPairDistance
{
    /// <summary>q_ij ≥ 0 from the Gram g [n, n] (bit-symmetric: <see cref="CpuRows.MirrorUpper{T}"/>,
    /// so row i holds the canonical G_ij) and centred rows x [n, d].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    public static T Squared<T>(T* g, T* x, int n, int d, int i, int j, T tau) where T : unmanaged, IFloatingPointIeee754<T>
        => Maths.PairMath.Squared<T, Maths.PtrTable<T>>(new(g), new(x), n, d, i, j, tau);

    /// <summary>Σ_k (x_ik − x_jk)², summed from the lower row index (the same bits for (i, j) and (j, i)).</summary>
    public static T Direct<T>(T* x, int d, int i, int j) where T : unmanaged, IFloatingPointIeee754<T>
        => Maths.PairMath.Direct<T, Maths.PtrTable<T>>(new(x), d, Math.Min(i, j), Math.Max(i, j));

    /// <summary>The recompute threshold τ = √u (u = 1 − pred(1), the unit round-off: 2⁻²⁴ for
    /// float, 2⁻⁵³ for double). Below τ·(G_ii + G_jj) the Gram form's round-off is at least
    /// √u of the result, so the pair is recomputed.</summary>
    public static T Tau<T>() where T : IFloatingPointIeee754<T> => T.Sqrt(T.One - T.BitDecrement(T.One));
}
