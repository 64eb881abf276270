using System.Numerics;
using GpuKd.Kernels.Maths;
using ILGPU;

namespace GpuKd.Kernels.Ilgpu;

/// <summary>
/// RKD pdist epilogue on a Gram matrix G of centred features (DESIGN §3):
/// q_ij = G_ii + G_jj − 2G_ij (recomputed from X where round-off dominates it), clamped below at <c>clamp</c>, in the
/// output form <c>TForm</c> (<see cref="SquaredDistance{T}"/> or <see cref="EuclideanDistance{T}"/>: a type, not a flag),
/// diagonal exactly 0. The backward assembles Ḡ so that X̄ = (Ḡ+Ḡᵀ)X.
/// </summary>
public static class DistanceKernels
{
    /// <summary>One thread per (i, j); index.X = j, index.Y = i.</summary>
    public static void Forward<T, TForm>(Index2D ij, ArrayView<T> g, ArrayView<T> x, ArrayView<T> dist, int n, int d, T clamp, T tau)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TForm : struct, IDistanceForm<T>
    {
        int i = ij.Y, j = ij.X;
        long o = (long)i * n + j;
        if (i == j) { dist[o] = T.Zero; return; }
        dist[o] = default(TForm).Output(PairDistance.Squared(g, x, n, d, i, j, tau), clamp);
    }

    /// <summary>One thread per row i: Ḡ_ij = −2q̄_ij (j ≠ i), Ḡ_ii = Σ_j (q̄_ij + q̄_ji), with
    /// q̄ = d̄/(2d) (d̄ if squared) and 0 at the clamp (<paramref name="clampOut"/> is the
    /// clamped output value: clamp, or √clamp).</summary>
    public static void Backward<T, TForm>(Index1D index, ArrayView<T> dbar, ArrayView<T> dist, ArrayView<T> gbar, int n, T clampOut)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TForm : struct, IDistanceForm<T>
    {
        int i = index;
        T diag = T.Zero;
        for (int j = 0; j < n; j++)
        {
            if (j == i) continue;
            T qij = QBar<T, TForm>(dbar[(long)i * n + j], dist[(long)i * n + j], clampOut);
            T qji = QBar<T, TForm>(dbar[(long)j * n + i], dist[(long)j * n + i], clampOut);
            gbar[(long)i * n + j] = -(qij + qij);
            diag += qij + qji;
        }
        gbar[(long)i * n + i] = diag;
    }

    static T QBar<T, TForm>(T dbar, T d, T clampOut) where T : unmanaged, IFloatingPointIeee754<T> where TForm : struct, IDistanceForm<T>
        => d <= clampOut ? T.Zero : default(TForm).SquaredGradient(dbar, d);
}
