using System.Numerics;
using System.Runtime.CompilerServices;
using GpuKd.Kernels.Maths;

namespace GpuKd.Kernels.Cpu;

/// <summary>
/// RKD triplet angles from the Gram of centred features on the CPU: the maths of
/// <see cref="Ilgpu.AngleKernels"/>, parallel over apexes (or legs), SIMD along the last
/// index. Each output row is owned by one iteration and summed in a fixed order.
/// </summary>
internal static unsafe class CpuAngles
{
    /// <summary>inv_ab = 1/max(d_ab, tiny) (0 for d_ab = 0), ginv_ab = inv_ab where d_ab &gt; tiny else 0.</summary>
    public static void Legs<T>(T* g, T* x, T* inv, T* ginv, int n, int d, T tiny) where T : unmanaged, IFloatingPointIeee754<T>
    {
        T tau = CpuPairDistance.Tau<T>();
        CpuParallel.For(n, n, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (a) =>
        {
            for (int b = 0; b < n; b++)
            {
                T len = T.Sqrt(CpuPairDistance.Squared(g, x, n, d, a, b, tau));
                T iv = len == T.Zero ? T.Zero : T.One / (len < tiny ? tiny : len);   // zero leg → angles exactly 0
                inv[(long)a * n + b] = iv;
                ginv[(long)a * n + b] = len <= tiny ? T.Zero : iv;
            }
        });
    }

    /// <summary>psi[c] = ψ_abc for c in [from, n) (apex a, first leg b), 0 at b = a or c = a; the numerator is
    /// <see cref="AngleMath.Numerator{T}"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void CosRow<T>(T* g, T* inv, int n, int a, int b, T* psi, int from = 0) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (b == a) { new Span<T>(psi + from, n - from).Clear(); return; }
        T* ga = g + (long)a * n, gb = g + (long)b * n, ia = inv + (long)a * n;
        T gaa = ga[a], gab = ga[b], iab = ia[b];
        int w = Vector<T>.Count, c = from;
        var vgaa = new Vector<T>(gaa);
        var vgab = new Vector<T>(gab);
        var viab = new Vector<T>(iab);
        for (; c <= n - w; c += w)   // AngleMath.Numerator lane-wise
            (((Vector.Load(gb + c) - (vgab + Vector.Load(ga + c))) + vgaa) * viab * Vector.Load(ia + c)).Store(psi + c);
        for (; c < n; c++) psi[c] = AngleMath.Numerator(gb[c], gaa, gab, ga[c]) * iab * ia[c];
        if (a >= from) psi[a] = T.Zero;
    }

    /// <summary>angles [n, n, n]: angles[a, b, :] = ψ_ab·.</summary>
    public static void Forward<T>(T* g, T* inv, T* angles, int n) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CpuParallel.For(n, (long)n * n, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (a) =>
        {
            for (int b = 0; b < n; b++) CosRow(g, inv, n, a, b, angles + ((long)a * n + b) * n);
        });
    }

    /// <summary>Ḡ [n, n] from the upstream rbar [n, n, n] (see AngleKernels for the passes).
    /// s1, s2, s3, t: n² scratch each.</summary>
    public static void Backward<T>(T* g, T* inv, T* ginv, T* rbar, T* s1, T* s2, T* s3, T* t, T* gbar, int n)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Passes(g, inv, ginv, rbar, s1, s2, s3, t, gbar, n);

    // The loss path uses the symmetry of the angles in their two legs: ψ_abc = ψ_acb, so the
    // recomputed upstream r_abc = scale·clamp(ψ_abc − ψ'_abc, ±1) and w_abc = r_abc/(d_ab d_ac) are
    // symmetric in (b, c) too. Every sum then needs only the triangle c ≥ b of each apex's b×b
    // block: half the rows of ψ to recompute, forward and backward. (The general backward above
    // cannot: an arbitrary upstream tensor has no such symmetry.)

    /// <summary>RKD angle loss forward: Σ_ab partial[a, b] = Σ_abc h(ψ_abc − ψ'_abc) (smooth-L1,
    /// β = 1), with partial[a, b] = h at c = b plus twice the sum over c &gt; b.</summary>
    public static void LossPartials<T>(T* g, T* inv, T* gO, T* invO, T* partial, int n) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CpuParallel.For(n, 6L * n * n, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (a) =>
        {
            var buf = System.Buffers.ArrayPool<T>.Shared.Rent(2 * n);
            fixed (T* scratch = buf)
            {
                T* psi = scratch, psiO = scratch + n;
                for (int b = 0; b < n; b++)
                {
                    CosRow(g, inv, n, a, b, psi, b);
                    CosRow(gO, invO, n, a, b, psiO, b);
                    T upper = Simd.SmoothL1Sum(psi + b + 1, psiO + b + 1, n - b - 1);
                    partial[(long)a * n + b] = Simd.SmoothL1Sum(psi + b, psiO + b, 1) + (upper + upper);
                }
            }
            System.Buffers.ArrayPool<T>.Shared.Return(buf);
        });
    }

    /// <summary>RKD angle loss backward for one side: r = scale·h'(ψ − ψ'), recomputed row by
    /// row (upper triangles only) from both sides' tables, never stored as b³. s1, s2, s3, t: n²
    /// scratch each.</summary>
    public static void LossBackward<T>(T* g, T* inv, T* ginv, T* gO, T* invO, T scale, T* s1, T* s2, T* s3, T* t, T* gbar, int n)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        // Pass 1, per apex a, rows x and columns y ≥ x: S1_ax = Σ_y w_axy (row x takes its
        // upper part, each y > x takes w_axy = w_ayx); S2 = S1 by symmetry; T_ax = 2 Σ_y r_axy ψ_axy
        // (the general pass's two sums coincide), gathered the same way.
        CpuParallel.For(n, 4L * n * n, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (a) =>
        {
            var buf = System.Buffers.ArrayPool<T>.Shared.Rent(3 * n);
            fixed (T* scratch = buf)
            {
                T* psi = scratch, psiO = scratch + n, r = scratch + 2 * n;
                T* s1a = s1 + (long)a * n, ta = t + (long)a * n, gia = ginv + (long)a * n;
                new Span<T>(s1a, n).Clear();
                new Span<T>(ta, n).Clear();
                for (int x = 0; x < n; x++)
                {
                    UpstreamRow(g, inv, gO, invO, scale, n, a, x, psi, psiO, r);
                    T gax = x == a ? T.Zero : gia[x];
                    T rowPart = Simd.Dot(r + x, gia + x, n - x) * gax;
                    Simd.AddScaledProduct(s1a + x + 1, r + x + 1, gia + x + 1, gax, n - x - 1);
                    s1a[x] += rowPart;
                    T upper = Simd.MultiplyAccumulateSum(r + x + 1, psi + x + 1, ta + x + 1, n - x - 1);
                    ta[x] += upper + r[x] * psi[x];
                }
                new Span<T>(s1a, n).CopyTo(new Span<T>(s2 + (long)a * n, n));
                for (int y = 0; y < n; y++) ta[y] += ta[y];
            }
            System.Buffers.ArrayPool<T>.Shared.Return(buf);
        });

        // Pass 2, per first leg x, columns c ≥ x: S3_xc = Σ_a w_axc; then the lower triangle by symmetry.
        CpuParallel.For(n, 3L * n * n, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (x) =>
        {
            var buf = System.Buffers.ArrayPool<T>.Shared.Rent(3 * n);
            fixed (T* scratch = buf)
            {
                T* psi = scratch, psiO = scratch + n, r = scratch + 2 * n;
                T* s3x = s3 + (long)x * n;
                new Span<T>(s3x + x, n - x).Clear();
                for (int a = 0; a < n; a++)
                {
                    T gax = ginv[(long)a * n + x];
                    if (a == x || gax == T.Zero) continue;
                    UpstreamRow(g, inv, gO, invO, scale, n, a, x, psi, psiO, r);
                    Simd.AddScaledProduct(s3x + x, r + x, ginv + (long)a * n + x, gax, n - x);
                }
            }
            System.Buffers.ArrayPool<T>.Shared.Return(buf);
        });
        CpuRows.MirrorUpper(s3, 1, n);

        Assemble(s1, s2, s3, t, ginv, gbar, n);
    }

    /// <summary>r[c] = scale·clamp(ψ_axc − ψ'_axc, ±1) for c in [x, n), with ψ in psi (ψ' in psiO).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    static void UpstreamRow<T>(T* g, T* inv, T* gO, T* invO, T scale, int n, int a, int x, T* psi, T* psiO, T* r)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CosRow(g, inv, n, a, x, psi, x);
        CosRow(gO, invO, n, a, x, psiO, x);
        Simd.ClampedDifference(psi + x, psiO + x, scale, r + x, n - x);
    }

    static void Passes<T>(T* g, T* inv, T* ginv, T* rbar, T* s1, T* s2, T* s3, T* t, T* gbar, int n)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        // Pass 1, per apex a: S1_ax = Σ_y w_axy; S2_ay = Σ_x w_axy; T_ax = Σ_y r_axy ψ_axy + Σ_y r_ayx ψ_ayx.
        CpuParallel.For(n, 4L * n * n, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (a) =>
        {
            var buf = System.Buffers.ArrayPool<T>.Shared.Rent(n);
            fixed (T* psi = buf)
            {
                T* s2a = s2 + (long)a * n, ta = t + (long)a * n, gia = ginv + (long)a * n;
                new Span<T>(s2a, n).Clear();
                new Span<T>(ta, n).Clear();
                for (int x = 0; x < n; x++)
                {
                    CosRow(g, inv, n, a, x, psi);
                    T* r = rbar + ((long)a * n + x) * n;
                    T gax = x == a ? T.Zero : gia[x];
                    s1[(long)a * n + x] = Simd.Dot(r, gia, n) * gax;
                    Simd.AddScaledProduct(s2a, r, gia, gax, n);
                    T rowSum = Simd.MultiplyAccumulateSum(r, psi, ta, n);   // adds r·ψ into ta first
                    ta[x] += rowSum;
                }
            }
            System.Buffers.ArrayPool<T>.Shared.Return(buf);
        });

        // Pass 2, per first leg x: S3_x· = Σ_a w_ax·.
        CpuParallel.For(n, 2L * n * n, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (x) =>
        {
            T* s3x = s3 + (long)x * n;
            new Span<T>(s3x, n).Clear();
            for (int a = 0; a < n; a++)
            {
                T gax = ginv[(long)a * n + x];
                if (a == x || gax == T.Zero) continue;
                Simd.AddScaledProduct(s3x, rbar + ((long)a * n + x) * n, ginv + (long)a * n, gax, n);
            }
        });

        Assemble(s1, s2, s3, t, ginv, gbar, n);
    }

    /// <summary>Ḡ from the pass sums (both backward paths).</summary>
    static void Assemble<T>(T* s1, T* s2, T* s3, T* t, T* ginv, T* gbar, int n) where T : unmanaged, IFloatingPointIeee754<T>
    {
        // Assembly, per row x: Ḡ_xy = S3_xy − S1_xy − S2_xy − Q_xy; Ḡ_xx = S3_xx + Σ_y S1_xy + Σ_y Q_xy,
        // with Q_xy = −(T_xy + T_yx) ginv_xy² / 2.
        T half = T.One / (T.One + T.One);
        CpuParallel.For(n, 4L * n, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (x) =>
        {
            long nx = (long)x * n;
            T diag = s3[nx + x];
            for (int y = 0; y < n; y++)
            {
                diag += s1[nx + y];
                if (y == x) continue;
                T gi = ginv[nx + y];
                T q = -(t[nx + y] + t[(long)y * n + x]) * gi * gi * half;
                gbar[nx + y] = s3[nx + y] - s1[nx + y] - s2[nx + y] - q;
                diag += q;
            }
            gbar[nx + x] = diag;
        });
    }
}
