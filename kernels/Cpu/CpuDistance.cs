using System.Numerics;
using System.Runtime.CompilerServices;

namespace GpuKd.Kernels.Cpu;

/// <summary>RKD pdist epilogue and its backward on the CPU (the maths of
/// <see cref="Ilgpu.DistanceKernels"/>). O(b²): negligible next to the Gram's b²D.</summary>
internal static unsafe class CpuDistance
{
    /// <summary>dist[i,j] from the bit-symmetric Gram g [n, n] of the centred features x [n, d]:
    /// SIMD along the row; lanes whose Gram-form q is round-off dominated are recomputed
    /// from the features (<see cref="CpuPairDistance"/>).</summary>
    public static void Forward<T>(T* g, T* x, T* dist, int n, int d, bool squared, T clamp) where T : unmanaged, IFloatingPointIeee754<T>
    {
        T tau = CpuPairDistance.Tau<T>();
        var diag = new T[n];
        for (int i = 0; i < n; i++) diag[i] = g[(long)i * n + i];
        CpuParallel.For(n, 4L * n, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (i) =>
        {
            fixed (T* dg = diag)
            {
                T* gi = g + (long)i * n, di = dist + (long)i * n;
                T gii = dg[i];
                var vgii = new Vector<T>(gii);
                var vtau = new Vector<T>(tau);
                var vclamp = new Vector<T>(clamp);
                int w = Vector<T>.Count, j = 0;
                for (; j <= n - w; j += w)
                {
                    var vjj = Vector.Load(dg + j);
                    var vij = Vector.Load(gi + j);
                    var q = vgii + vjj - (vij + vij);
                    if (Vector.LessThanOrEqualAny(q, vtau * (vgii + vjj)) || !Vector.EqualsAll(q, q))
                    {
                        // Rare: a near-duplicate pair, the diagonal or a NaN in this block.
                        for (int k = j; k < j + w; k++) di[k] = Entry(g, x, n, d, i, k, squared, clamp, tau);
                        continue;
                    }
                    q = Vector.Max(q, vclamp);   // NaN-free here (checked above), so Max's NaN rule does not matter
                    (squared ? q : Vector.SquareRoot(q)).Store(di + j);
                }
                for (; j < n; j++) di[j] = Entry(g, x, n, d, i, j, squared, clamp, tau);
                di[i] = T.Zero;
            }
        });
    }

    /// <summary>One entry, scalar: the clamped (and rooted) q_ij, NaN kept.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    static T Entry<T>(T* g, T* x, int n, int d, int i, int j, bool squared, T clamp, T tau) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (i == j) return T.Zero;
        return Maths.PairMath.Distance(CpuPairDistance.Squared(g, x, n, d, i, j, tau), clamp, squared);
    }

    /// <summary>Ḡ [n, n] such that X̄ = (Ḡ+Ḡᵀ)X, from <paramref name="dbarSym"/> = d̄ + d̄ᵀ (rows
    /// only): with Q_ij = (d̄ + d̄ᵀ)_ij/(2d_ij) (or without the 1/(2d) when squared), 0 at the clamp,
    /// Ḡ_ij = −Q_ij and Ḡ_ii = Σ_j Q_ij — a symmetric Ḡ whose Ḡ+Ḡᵀ is the pdist backward's.</summary>
    public static void Backward<T>(T* dbarSym, T* dist, T* gbar, int n, bool squared, T clampOut) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CpuParallel.For(n, 4L * n, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (i) =>
        {
            long o = (long)i * n;
            T* s = dbarSym + o, di = dist + o, gb = gbar + o;
            int w = Vector<T>.Count, j = 0;
            var vclamp = new Vector<T>(clampOut);
            var acc = Vector<T>.Zero;
            for (; j <= n - w; j += w)
            {
                var dv = Vector.Load(di + j);
                var q = squared ? Vector.Load(s + j) : Vector.Load(s + j) / (dv + dv);
                q = Vector.ConditionalSelect(Vector.LessThanOrEqual(dv, vclamp), Vector<T>.Zero, q);   // clamp (and the diagonal: d = 0)
                (-q).Store(gb + j);
                acc += q;
            }
            T diag = Vector.Sum(acc);
            for (; j < n; j++)
            {
                T q = QBar(s[j], di[j], squared, clampOut);
                gb[j] = -q;
                diag += q;
            }
            // The diagonal entry was written as −0 (d_ii = 0 is at the clamp) and added 0.
            gb[i] = diag;
        });
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    static T QBar<T>(T dbar, T d, bool squared, T clampOut) where T : unmanaged, IFloatingPointIeee754<T>
        => d <= clampOut ? T.Zero : squared ? dbar : dbar / (d + d);
}
