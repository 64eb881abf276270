using GpuKd.Kernels.Maths;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace GpuKd.Kernels.Cpu;

/// <summary>
/// The CPU twin of <see cref="Ilgpu.EdgeKernels"/> (same maths, same per-row ownership), over raw memory.
/// q is recomputed Vector&lt;T&gt; lanes at a time from row i of the (bit-symmetric) Gram and a
/// contiguous copy of its diagonal: the same bits as the scalar <see cref="Q{T}"/> (the lanes go
/// through it wherever the Gram form must be recomputed from X, and on the diagonal). Row sums
/// are SIMD sums: a fixed order for a given n, so results are deterministic.
/// </summary>
internal static unsafe class CpuEdge
{
    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    static T Q<T>(T* g, T* x, int n, int d, int i, int j, T clamp, T tau) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (i == j) return T.Zero;
        T q = CpuPairDistance.Squared(g, x, n, d, i, j, tau);
        return q < clamp ? clamp : q;
    }

    /// <summary>One side's Gram, features and contiguous Gram diagonal.</summary>
    readonly struct Side<T>(T* g, T* x, T* diag, int n, int d) where T : unmanaged, IFloatingPointIeee754<T>
    {
        public readonly T* G = g, X = x, Diag = diag;
        public readonly int N = n, D = d;

        /// <summary>q_ij … q_i(j+w−1).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
        public Vector<T> Lanes(int i, int j, T clamp, T tau)
        {
            T gii = Diag[i];
            var s = new Vector<T>(gii) + Vector.Load(Diag + j);
            var gij = Vector.Load(G + (long)i * N + j);
            var q = s - (gij + gij);
            if ((uint)(i - j) < (uint)Vector<T>.Count
                || Vector.LessThanOrEqualAny(q, new Vector<T>(tau) * s)) return Slow(i, j, clamp, tau);
            var c = new Vector<T>(clamp);
            return Vector.ConditionalSelect(Vector.LessThan(q, c), c, q);   // NaN compares false and is kept
        }

        [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
        Vector<T> Slow(int i, int j, T clamp, T tau)
        {
            int w = Vector<T>.Count;
            T* lanes = stackalloc T[w];
            for (int l = 0; l < w; l++) lanes[l] = Q(G, X, N, D, i, j + l, clamp, tau);
            return Vector.Load(lanes);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
        public T One(int i, int j, T clamp, T tau) => Q(G, X, N, D, i, j, clamp, tau);
    }

    /// <summary>Runs f with the contiguous diagonals of the two Grams (one buffer of 2n).</summary>
    static void WithDiagonals<T>(T* gs, T* go, int n, Action<nint, nint> f) where T : unmanaged
    {
        var buffer = GC.AllocateUninitializedArray<T>(2 * n, pinned: true);
        fixed (T* p = buffer)
        {
            for (int i = 0; i < n; i++) { p[i] = gs[(long)i * n + i]; p[n + i] = go[(long)i * n + i]; }
            f((nint)p, (nint)(p + n));
        }
    }

    /// <summary>Row maxima and tie counts (see <see cref="Ilgpu.EdgeKernels.RowMax{T}"/>).</summary>
    public static void RowMax<T>(T* g, T* x, T* rowMax, T* rowCount, EdgeArgs<T> a) where T : unmanaged, IFloatingPointIeee754<T>
    {
        WithDiagonals(g, g, a.N, (pd, _) =>
        {
            var side = new Side<T>(g, x, (T*)pd, a.N, a.DSelf);
            CpuParallel.For(a.N, 4L * a.N, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (i) =>
            {
                int n = a.N, w = Vector<T>.Count, j = 0;
                // Pass 1: the max (from 0, as the scalar loop) and whether a NaN occurs (the scalar
                // loop then gives NaN with count 1); pass 2: the entries equal to the max.
                var vm = Vector<T>.Zero;
                bool nan = false;
                for (; j <= n - w; j += w)
                {
                    var q = side.Lanes(i, j, a.Clamp, a.Tau);
                    vm = Vector.Max(vm, q);
                    nan |= !Vector.EqualsAll(q, q);
                }
                T m = T.Zero;
                for (int l = 0; l < w; l++) if (vm[l] > m) m = vm[l];
                for (int k = j; k < n; k++)
                {
                    T q = side.One(i, k, a.Clamp, a.Tau);
                    if (q > m) m = q;
                    nan |= T.IsNaN(q);
                }
                if (nan) { rowMax[i] = T.NaN; rowCount[i] = T.One; return; }
                var vc = Vector<T>.Zero;
                var vmax = new Vector<T>(m);
                for (j = 0; j <= n - w; j += w)
                    vc += Vector.ConditionalSelect(Vector.Equals(side.Lanes(i, j, a.Clamp, a.Tau), vmax), Vector<T>.One, Vector<T>.Zero);
                T c = Vector.Sum(vc);
                for (; j < n; j++) if (side.One(i, j, a.Clamp, a.Tau) == m) c += T.One;
                rowMax[i] = m;
                rowCount[i] = c;
            });
        });
    }

    /// <summary>Loss per row (see <see cref="Ilgpu.EdgeKernels.LossRows{T}"/>).</summary>
    public static void LossRows<T>(T* gs, T* xs, T* go, T* xo, T* partial, EdgeArgs<T> a, EdgeMax<T> m) where T : unmanaged, IFloatingPointIeee754<T>
        => PairRows(gs, xs, go, xo, partial, a, m, dot: false);

    /// <summary>Row sums of Ē ⊙ E^self (see <see cref="Ilgpu.EdgeKernels.DotRows{T}"/>).</summary>
    public static void DotRows<T>(T* gs, T* xs, T* go, T* xo, T* partial, EdgeArgs<T> a, EdgeMax<T> m) where T : unmanaged, IFloatingPointIeee754<T>
        => PairRows(gs, xs, go, xo, partial, a, m, dot: true);

    /// <summary>partial_i = Σ_j e_ij² (loss) or Σ_j Scale·e_ij·E^self_ij (dot), e = E^self − E^other.</summary>
    static void PairRows<T>(T* gs, T* xs, T* go, T* xo, T* partial, EdgeArgs<T> a, EdgeMax<T> m, bool dot) where T : unmanaged, IFloatingPointIeee754<T>
    {
        WithDiagonals(gs, go, a.N, (ps, po) =>
        {
            var self = new Side<T>(gs, xs, (T*)ps, a.N, a.DSelf);
            var other = new Side<T>(go, xo, (T*)po, a.N, a.DOther);
            CpuParallel.For(a.N, 8L * a.N, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (i) =>
            {
                int n = a.N, w = Vector<T>.Count, j = 0;
                var vis = new Vector<T>(m.InvMSelf);
                var vio = new Vector<T>(m.InvMOther);
                var acc = Vector<T>.Zero;
                for (; j <= n - w; j += w)
                {
                    var es = self.Lanes(i, j, a.Clamp, a.Tau) * vis;
                    var e = es - other.Lanes(i, j, a.Clamp, a.Tau) * vio;
                    acc += dot ? e * es : e * e;
                }
                T s = Vector.Sum(acc);
                for (; j < n; j++)
                {
                    T es = self.One(i, j, a.Clamp, a.Tau) * m.InvMSelf;
                    T e = es - other.One(i, j, a.Clamp, a.Tau) * m.InvMOther;
                    s += dot ? e * es : e * e;
                }
                partial[i] = dot ? a.Scale * s : s;
            });
        });
    }

    /// <summary>Ḡ of the side "self" (see <see cref="Ilgpu.EdgeKernels.Backward{T}"/>).</summary>
    public static void Backward<T>(T* gs, T* xs, T* go, T* xo, T* gbar, EdgeArgs<T> a, EdgeMax<T> m) where T : unmanaged, IFloatingPointIeee754<T>
    {
        WithDiagonals(gs, go, a.N, (ps, po) =>
        {
            var self = new Side<T>(gs, xs, (T*)ps, a.N, a.DSelf);
            var other = new Side<T>(go, xo, (T*)po, a.N, a.DOther);
            CpuParallel.For(a.N, 10L * a.N, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (i) =>
            {
                int n = a.N, w = Vector<T>.Count, j = 0;
                long o = (long)i * n;
                var vsc = new Vector<T>(a.Scale);
                var vis = new Vector<T>(m.InvMSelf);
                var vio = new Vector<T>(m.InvMOther);
                var vclamp = new Vector<T>(a.Clamp);
                var vmax = new Vector<T>(m.Max);
                var vtie = new Vector<T>(m.MaxBarPerTie);
                var acc = Vector<T>.Zero;
                // q̄ = 0 at the clamp (and on the diagonal, where q = 0), else Scale·(q/m_s − q_o/m_o)/m_s (+ the tie share).
                for (; j <= n - w; j += w)
                {
                    var q = self.Lanes(i, j, a.Clamp, a.Tau);
                    var qbar = vsc * (q * vis - other.Lanes(i, j, a.Clamp, a.Tau) * vio) * vis;
                    qbar += Vector.ConditionalSelect(Vector.Equals(q, vmax), vtie, Vector<T>.Zero);
                    qbar = Vector.ConditionalSelect(Vector.LessThanOrEqual(q, vclamp), Vector<T>.Zero, qbar);
                    var two = qbar + qbar;
                    (-two).Store(gbar + o + j);
                    acc += two;
                }
                T diag = Vector.Sum(acc);
                for (; j < n; j++)
                {
                    T q = self.One(i, j, a.Clamp, a.Tau);
                    T qbar = T.Zero;
                    if (!(q <= a.Clamp))
                    {
                        qbar = a.Scale * (q * m.InvMSelf - other.One(i, j, a.Clamp, a.Tau) * m.InvMOther) * m.InvMSelf;
                        if (q == m.Max) qbar += m.MaxBarPerTie;
                    }
                    gbar[o + j] = -(qbar + qbar);
                    diag += qbar + qbar;
                }
                gbar[o + i] = diag;
            });
        });
    }
}
