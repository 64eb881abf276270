using System.Numerics;
using GpuKd.Kernels.Maths;
using ILGPU;

namespace GpuKd.Kernels.Ilgpu;

/// <summary>
/// RKD triplet angles from the Gram matrix G of centred features (DESIGN §3–4):
/// ψ_abc = (G_bc + G_aa − G_ab − G_ac) / (d_ab d_ac), 0 where b = a or c = a.
/// Leg tables: inv_ab = 1/max(d_ab, 1e-12) (the reference's F.normalize; 0 for d_ab = 0) and
/// ginv_ab = inv_ab where d_ab &gt; 1e-12, else 0 (a degenerate leg passes no gradient).
/// The backward never stores anything b³ but the upstream it is given: each output of
/// each pass is owned by one thread and summed in a fixed order.
/// </summary>
public static class AngleKernels
{
    /// <summary>One thread per (a, b): index.X = b, index.Y = a.</summary>
    public static void Legs<T>(Index2D ab, ArrayView<T> g, ArrayView<T> x, ArrayView<T> inv, ArrayView<T> ginv, int n, int d, T tiny, T tau)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int a = ab.Y, b = ab.X;
        T len = T.Sqrt(PairDistance.Squared(g, x, n, d, a, b, tau));
        // A leg of length exactly 0 (b = a, or a duplicate row) is the zero vector, which
        // F.normalize leaves at 0: its angles are exactly 0, never round-off × 1e12.
        T iv = len == T.Zero ? T.Zero : T.One / (len < tiny ? tiny : len);
        inv[(long)a * n + b] = iv;
        ginv[(long)a * n + b] = len <= tiny ? T.Zero : iv;
    }

    /// <summary>ψ_abc with legs scaled by <paramref name="legs"/> (the inv table); the numerator is
    /// <see cref="AngleMath.Numerator{T}"/>.</summary>
    static T Cos<T>(ArrayView<T> g, ArrayView<T> legs, int n, int a, int b, int c)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (b == a || c == a) return T.Zero;
        long na = (long)a * n;
        T num = AngleMath.Numerator(g[(long)b * n + c], g[na + a], g[na + b], g[na + c]);
        return num * legs[na + b] * legs[na + c];
    }

    /// <summary>One thread per (a, b), looping over c: out[a, b, c] = ψ_abc.</summary>
    public static void Forward<T>(Index2D ab, ArrayView<T> g, ArrayView<T> inv, ArrayView<T> angles, int n)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int a = ab.Y, b = ab.X;
        long o = ((long)a * n + b) * n;
        for (int c = 0; c < n; c++) angles[o + c] = Cos(g, inv, n, a, b, c);
    }

    /// <summary>
    /// ∂L/∂ψ_abc of the side being differentiated, chosen by a type parameter (no mode flag in the kernels):
    /// <see cref="FromTensor{T}"/> reads it from the upstream tensor rbar [n, n, n] (the triplet_angles op);
    /// <see cref="FromLoss{T}"/> is the RKD angle loss, computed on the fly so that nothing b³ is stored:
    /// scale·h'(ψ_abc − ψ'_abc), ψ' from the other side's tables (gO, invO), h' the smooth-L1 derivative clamp(z, −1, 1),
    /// scale = upstream/b³ (the same sign serves the teacher: h' is odd). The loss's r is symmetric in the two legs
    /// (ψ_abc = ψ_acb), which the row pass uses to compute each pair once, as the CPU loss pass does.
    /// </summary>
    public interface IUpstream<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>True when r_abc = r_acb, so the row pass may reuse (ψ, r) of (a, x, y) for (a, y, x).</summary>
        bool Symmetric { get; }

        /// <summary>True when r depends on ψ of this side (the apex pass then computes it).</summary>
        bool NeedsPsi { get; }

        /// <summary>r_abc, given ψ_abc of this side.</summary>
        T R(ArrayView<T> rbar, ArrayView<T> gO, ArrayView<T> invO, T scale, int n, int a, int b, int c, T psiSelf);
    }

    /// <summary>r from the upstream tensor rbar (triplet_angles).</summary>
    public readonly struct FromTensor<T> : IUpstream<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <inheritdoc/>
        public bool Symmetric => false;

        /// <inheritdoc/>
        public bool NeedsPsi => false;

        /// <inheritdoc/>
        public T R(ArrayView<T> rbar, ArrayView<T> gO, ArrayView<T> invO, T scale, int n, int a, int b, int c, T psiSelf)
            => rbar[((long)a * n + b) * n + c];
    }

    /// <summary>r of the RKD angle loss, recomputed from both sides' tables.</summary>
    public readonly struct FromLoss<T> : IUpstream<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <inheritdoc/>
        public bool Symmetric => true;

        /// <inheritdoc/>
        public bool NeedsPsi => true;

        /// <inheritdoc/>
        public T R(ArrayView<T> rbar, ArrayView<T> gO, ArrayView<T> invO, T scale, int n, int a, int b, int c, T psiSelf)
        {
            T z = psiSelf - Cos(gO, invO, n, a, b, c);
            if (z > T.One) z = T.One;
            if (z < -T.One) z = -T.One;
            return scale * z;   // comparisons: a NaN z stays NaN
        }
    }

    /// <summary>Pass 1, one thread per (a, x), looping over y, with r = ∂L/∂ψ and
    /// w_axy = r_axy ginv_ax ginv_ay: S1_ax = Σ_y w_axy, S2_ax = Σ_y w_ayx,
    /// T_ax = Σ_y (r_axy ψ_axy + r_ayx ψ_ayx) (feeds the leg gradient d̄_ax = −T_ax/d_ax).</summary>
    public static void RowPass<T, TUp>(Index2D ax, ArrayView<T> g, ArrayView<T> inv, ArrayView<T> ginv, ArrayView<T> rbar,
        ArrayView<T> gO, ArrayView<T> invO, ArrayView<T> s1, ArrayView<T> s2, ArrayView<T> t, int n, T scale)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TUp : struct, IUpstream<T>
    {
        var up = default(TUp);
        int a = ax.Y, x = ax.X;
        long na = (long)a * n;
        T sum1 = T.Zero, sum2 = T.Zero, tsum = T.Zero;
        if (x != a)
        {
            for (int y = 0; y < n; y++)
            {
                if (y == a) continue;
                T p1 = Cos(g, inv, n, a, x, y);
                T r1 = up.R(rbar, gO, invO, scale, n, a, x, y, p1);
                T p2 = up.Symmetric ? p1 : Cos(g, inv, n, a, y, x);
                T r2 = up.Symmetric ? r1 : up.R(rbar, gO, invO, scale, n, a, y, x, p2);
                T gw = ginv[na + x] * ginv[na + y];
                sum1 += r1 * gw;
                sum2 += r2 * gw;
                tsum += r1 * p1 + r2 * p2;
            }
        }
        s1[na + x] = sum1;
        s2[na + x] = sum2;
        t[na + x] = tsum;
    }

    /// <summary>Pass 2, one thread per (x, y), looping over apexes a: S3_xy = Σ_a w_axy.</summary>
    public static void ApexPass<T, TUp>(Index2D xy, ArrayView<T> g, ArrayView<T> inv, ArrayView<T> ginv, ArrayView<T> rbar,
        ArrayView<T> gO, ArrayView<T> invO, ArrayView<T> s3, int n, T scale)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TUp : struct, IUpstream<T>
    {
        var up = default(TUp);
        int x = xy.Y, y = xy.X;
        T sum = T.Zero;
        for (int a = 0; a < n; a++)
        {
            if (a == x || a == y) continue;
            long na = (long)a * n;
            T r = up.R(rbar, gO, invO, scale, n, a, x, y, up.NeedsPsi ? Cos(g, inv, n, a, x, y) : T.Zero);
            sum += r * ginv[na + x] * ginv[na + y];
        }
        s3[(long)x * n + y] = sum;
    }

    /// <summary>RKD angle loss forward, one thread per (a, b): partial[a, b] =
    /// Σ_c h(ψ_abc − ψ'_abc), h the smooth-L1 (β = 1) loss. The host sums the b² partials
    /// in a fixed order (deterministic), so the b³ angles are never stored.</summary>
    public static void LossPartials<T>(Index2D ab, ArrayView<T> g, ArrayView<T> inv, ArrayView<T> gO, ArrayView<T> invO,
        ArrayView<T> partial, int n)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int a = ab.Y, b = ab.X;
        T half = T.One / (T.One + T.One), sum = T.Zero;
        for (int c = 0; c < n; c++)
        {
            T z = T.Abs(Cos(g, inv, n, a, b, c) - Cos(gO, invO, n, a, b, c));
            T m = z < T.One ? z : T.One;
            sum += m * (z - half * m);   // 0.5z² below 1, z − 0.5 above
        }
        partial[(long)a * n + b] = sum;
    }

    /// <summary>Assembly, one thread per row x (O(b²) in all): with q̄_xy = −T_xy ginv_xy²/2
    /// and Q = q̄ + q̄ᵀ, Ḡ_xy = S3_xy − S1_xy − S2_xy − Q_xy, Ḡ_xx = S3_xx + Σ_y S1_xy + Σ_y Q_xy.
    /// (Off-diagonal Q is split evenly between [x,y] and [y,x]; only Ḡ+Ḡᵀ is used.)</summary>
    public static void Assemble<T>(Index1D index, ArrayView<T> ginv, ArrayView<T> s1, ArrayView<T> s2, ArrayView<T> s3,
        ArrayView<T> t, ArrayView<T> gbar, int n)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int x = index;
        long nx = (long)x * n;
        T half = T.One / (T.One + T.One);
        T diag = s3[nx + x];
        for (int y = 0; y < n; y++)
        {
            diag += s1[nx + y];
            if (y == x) continue;
            long ny = (long)y * n;
            T gi = ginv[nx + y];
            T q = -(t[nx + y] + t[ny + x]) * gi * gi * half;
            gbar[nx + y] = s3[nx + y] - s1[nx + y] - s2[nx + y] - q;
            diag += q;
        }
        gbar[nx + x] = diag;
    }
}
