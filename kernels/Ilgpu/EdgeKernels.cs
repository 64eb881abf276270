using GpuKd.Kernels.Maths;
using System.Numerics;
using ILGPU;

namespace GpuKd.Kernels.Ilgpu;

/// <summary>
/// IRG edge loss epilogues (REFERENCE.md IRG) on the Grams of the centred features of both sides:
/// q_ij = squared distance clamped below at 1e-12 (diagonal 0), E = q / max(q) (0 if the max is 0),
/// L = Σ (E^S − E^T)² / b². q and E are recomputed from G (and X for near-duplicate pairs) wherever
/// needed: no b×b matrix besides the Grams. One thread per row, fixed summation order.
/// </summary>
public static class EdgeKernels
{
    static T Q<T>(ArrayView<T> g, ArrayView<T> x, int n, int d, int i, int j, T clamp, T tau) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (i == j) return T.Zero;
        T q = PairDistance.Squared(g, x, n, d, i, j, tau);
        return q < clamp ? clamp : q;   // NaN compares false and is kept
    }

    /// <summary>rowMax_i = max_j q_ij (NaN if any is NaN) and rowCount_i = #{j : q_ij = rowMax_i}.</summary>
    public static void RowMax<T>(Index1D index, ArrayView<T> g, ArrayView<T> x, ArrayView<T> rowMax, ArrayView<T> rowCount, EdgeArgs<T> a)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int i = index;
        T m = T.Zero, c = T.Zero;
        for (int j = 0; j < a.N; j++)
        {
            T q = Q(g, x, a.N, a.DSelf, i, j, a.Clamp, a.Tau);
            if (T.IsNaN(m)) continue;
            if (q > m || T.IsNaN(q)) { m = q; c = T.One; }
            else if (q == m) c += T.One;
        }
        rowMax[i] = m;
        rowCount[i] = c;
    }

    /// <summary>One thread: a side's block s = [max, count, 1/max] from the row results of <see cref="RowMax{T}"/>, combined
    /// in row order (NaN as soon as a row's max is NaN; 1/max is 0 for a zero matrix, NaN for NaN).</summary>
    public static void Max<T>(Index1D index, ArrayView<T> rowMax, ArrayView<T> rowCount, ArrayView<T> s, int n)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        T m = T.Zero, c = T.Zero;
        for (int i = 0; i < n; i++)
        {
            if (T.IsNaN(m)) break;
            T r = rowMax[i];
            if (r > m || T.IsNaN(r)) { m = r; c = rowCount[i]; }
            else if (r == m) c += rowCount[i];
        }
        s[0] = m;
        s[1] = c;
        s[2] = m > T.Zero ? T.One / m : T.IsNaN(m) ? m : T.Zero;
    }

    /// <summary>One thread: maxBar[0] = −(Σ_i dots_i)·(1/max)/count, the share of the max's gradient m̄ = −(1/m) Σ Ē E each
    /// entry equal to the max receives, where the max exceeds the clamp (else the max carries no gradient: 0).</summary>
    public static void MaxBar<T>(Index1D index, ArrayView<T> dots, ArrayView<T> s, ArrayView<T> maxBar, int n, T clamp)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        T sum = T.Zero;
        for (int i = 0; i < n; i++) sum += dots[i];
        maxBar[0] = s[0] > clamp ? -sum * s[2] / s[1] : T.Zero;
    }

    /// <summary>partial_i = Σ_j (q^self_ij/m_self − q^other_ij/m_other)² (self = student for the loss).</summary>
    public static void LossRows<T>(Index1D index, ArrayView<T> gs, ArrayView<T> xs, ArrayView<T> go, ArrayView<T> xo, ArrayView<T> maxSelf, ArrayView<T> maxOther,
        ArrayView<T> partial, EdgeArgs<T> a)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int i = index;
        var m = EdgeMax<T>.Of(maxSelf, maxOther, maxSelf);
        T s = T.Zero;
        for (int j = 0; j < a.N; j++)
        {
            T e = Q(gs, xs, a.N, a.DSelf, i, j, a.Clamp, a.Tau) * m.InvMSelf - Q(go, xo, a.N, a.DOther, i, j, a.Clamp, a.Tau) * m.InvMOther;
            s += e * e;
        }
        partial[i] = s;
    }

    /// <summary>partial_i = Σ_j Ē_ij E^self_ij with Ē = Scale·(E^self − E^other): the row sums of the max's gradient
    /// m̄ = −(1/m) Σ Ē E.</summary>
    public static void DotRows<T>(Index1D index, ArrayView<T> gs, ArrayView<T> xs, ArrayView<T> go, ArrayView<T> xo, ArrayView<T> maxSelf, ArrayView<T> maxOther,
        ArrayView<T> partial, EdgeArgs<T> a)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int i = index;
        var m = EdgeMax<T>.Of(maxSelf, maxOther, maxSelf);
        T s = T.Zero;
        for (int j = 0; j < a.N; j++)
        {
            T es = Q(gs, xs, a.N, a.DSelf, i, j, a.Clamp, a.Tau) * m.InvMSelf;
            s += a.Scale * (es - Q(go, xo, a.N, a.DOther, i, j, a.Clamp, a.Tau) * m.InvMOther) * es;
        }
        partial[i] = s;
    }

    /// <summary>
    /// Ḡ for the side "self", one thread per row: q̄_ij = Ē_ij/m (+ the per-tie share of m̄ where q_ij equals the max),
    /// 0 where q_ij is at the clamp; Ḡ_ij = −2q̄_ij, Ḡ_ii = 2Σ_j q̄_ij (q̄ is symmetric: q_ij and q_ji are the
    /// same bits). X̄ = (Ḡ + Ḡᵀ)Xc follows.
    /// </summary>
    public static void Backward<T>(Index1D index, ArrayView<T> gs, ArrayView<T> xs, ArrayView<T> go, ArrayView<T> xo, ArrayView<T> maxSelf, ArrayView<T> maxOther,
        ArrayView<T> maxBar, ArrayView<T> gbar, EdgeArgs<T> a)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int i = index;
        var m = EdgeMax<T>.Of(maxSelf, maxOther, maxBar);
        long o = (long)i * a.N;
        T diag = T.Zero;
        for (int j = 0; j < a.N; j++)
        {
            if (j == i) continue;
            T q = Q(gs, xs, a.N, a.DSelf, i, j, a.Clamp, a.Tau);
            T qbar = T.Zero;
            if (!(q <= a.Clamp))
            {
                qbar = a.Scale * (q * m.InvMSelf - Q(go, xo, a.N, a.DOther, i, j, a.Clamp, a.Tau) * m.InvMOther) * m.InvMSelf;
                if (q == m.Max) qbar += m.MaxBarPerTie;
            }
            gbar[o + j] = -(qbar + qbar);
            diag += qbar + qbar;
        }
        gbar[o + i] = diag;
    }
}
