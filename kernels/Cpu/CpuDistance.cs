using System.Numerics;
using System.Runtime.CompilerServices;

namespace GpuKd.Kernels.Cpu;

/// <summary>RKD pdist epilogue and its backward on the CPU (the maths of
/// <see cref="Ilgpu.DistanceKernels"/>). O(b²): negligible next to the Gram's b²D.</summary>
public static unsafe class CpuDistance
{
    /// <summary>dist[i,j] from the Gram g [n, n] of the centred features x [n, d].</summary>
    public static void Forward<T>(T* g, T* x, T* dist, int n, int d, bool squared, T clamp) where T : unmanaged, IFloatingPointIeee754<T>
    {
        T tau = CpuPairDistance.Tau<T>();
        CpuParallel.For(n, n, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (i) =>
        {
            for (int j = 0; j < n; j++)
            {
                if (i == j) { dist[(long)i * n + j] = T.Zero; continue; }
                T q = CpuPairDistance.Squared(g, x, n, d, i, j, tau);
                if (q < clamp) q = clamp;
                dist[(long)i * n + j] = squared ? q : T.Sqrt(q);
            }
        });
    }

    /// <summary>Ḡ [n, n] such that X̄ = (Ḡ+Ḡᵀ)X; entries at the clamp pass no gradient.</summary>
    public static void Backward<T>(T* dbar, T* dist, T* gbar, int n, bool squared, T clampOut) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CpuParallel.For(n, n, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (i) =>
        {
            T diag = T.Zero;
            for (int j = 0; j < n; j++)
            {
                if (j == i) continue;
                T qij = QBar(dbar[(long)i * n + j], dist[(long)i * n + j], squared, clampOut);
                T qji = QBar(dbar[(long)j * n + i], dist[(long)j * n + i], squared, clampOut);
                gbar[(long)i * n + j] = -(qij + qij);
                diag += qij + qji;
            }
            gbar[(long)i * n + i] = diag;
        });
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    static T QBar<T>(T dbar, T d, bool squared, T clampOut) where T : unmanaged, IFloatingPointIeee754<T>
        => d <= clampOut ? T.Zero : squared ? dbar : dbar / (d + d);
}
