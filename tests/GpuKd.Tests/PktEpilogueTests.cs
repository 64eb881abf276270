using GpuKd.Kernels.Cpu;
using GpuKd.Kernels.Maths;
using NUnit.Framework;

namespace GpuKd.Tests;

/// <summary>
/// PKT's row epilogues below the op: the CPU path's SIMD rows (<see cref="CpuPkt"/>: per lane the series or the log of
/// <see cref="PktMath.Phi{T}"/>, chunks that mix both) against an independent float64 evaluation of the published terms,
/// the in-place H + Hᵀ against libtorch's, and the teacher's gradient term far from the student in float32.
/// </summary>
public sealed unsafe class PktEpilogueTests
{
    const double Eps = 1e-7;

    /// <summary>log(1 + u) for u &gt; −1 without the series under test: 2·atanh(z), z = u/(2 + u), summed as
    /// 2(z + z³/3 + z⁵/5 + …) while |z| ≤ 0.1 (60 terms: far below 1e-17 relative), else Math.Log.</summary>
    static double Log1P(double u, double p, double qe)
    {
        double z = u / (2 + u);
        if (!(Math.Abs(z) <= 0.1)) return Math.Log((p + Eps) / qe);
        double z2 = z * z, s = 0;
        for (int k = 119; k >= 3; k -= 2) s = s * z2 + 1.0 / k;
        return 2 * z + 2 * z * z2 * s;
    }

    /// <summary>φ(u) = u − log(1 + u) with u − 2z = u²/(2 + u) exactly in the algebra, so no cancellation near 0.</summary>
    static double Phi(double u, double p, double qe)
    {
        double z = u / (2 + u);
        if (!(Math.Abs(z) <= 0.1)) return u - Math.Log((p + Eps) / qe);
        return u * u / (2 + u) - (Log1P(u, p, qe) - 2 * z);
    }

    /// <summary>Grams [n, n] in [−1, 1] whose rows mix entries near the teacher (|u| ≪ 1/8: the series) and, when
    /// <paramref name="mixed"/>, a third far from it (the log), so that most SIMD chunks hold both; <paramref name="near"/>
    /// sets how close the near ones are.</summary>
    static (double[] Gs, double[] Gt) Grams(int n, double near, bool mixed, int seed)
    {
        var rng = new Random(seed);
        var gs = new double[n * n];
        var gt = new double[n * n];
        for (int i = 0; i < n * n; i++)
        {
            gt[i] = 2 * rng.NextDouble() - 1;
            gs[i] = mixed && rng.Next(3) == 0 ? 2 * rng.NextDouble() - 1 : Math.Clamp(gt[i] + near * (2 * rng.NextDouble() - 1), -1, 1);
        }
        return (gs, gt);
    }

    /// <summary>Per row: the float64 oracle of Σ_j q·log((q + eps)/(p + eps)) (as Σ_j (q + eps)φ(u) + eps(u − φ(u)): the same
    /// sum, the rows of p and q summing to 1), Σ_j |term| (the scale of the row's rounding), and the student's and teacher's
    /// ∂L/∂S rows (scale 1) from the published derivative: g = −q/(p + eps) or log((q + eps)/(p + eps)) + q/(q + eps),
    /// h = ½(g − Σ_k g_k w_k)/r.</summary>
    static (double Loss, double Scale, double[] Hs, double[] Ht) Oracle(double[] gs, double[] gt, int n, int i)
    {
        double rs = 0, rt = 0;
        for (int j = 0; j < n; j++) { rs += (gs[i * n + j] + 1) / 2; rt += (gt[i * n + j] + 1) / 2; }
        double loss = 0, scale = 0, ds = 0, dt = 0;
        var gS = new double[n];
        var gT = new double[n];
        var p = new double[n];
        var q = new double[n];
        for (int j = 0; j < n; j++)
        {
            p[j] = (gs[i * n + j] + 1) / 2 / rs;
            q[j] = (gt[i * n + j] + 1) / 2 / rt;
            double qe = q[j] + Eps, u = (p[j] - q[j]) / qe, phi = Phi(u, p[j], qe), term = qe * phi + Eps * (u - phi);
            loss += term;
            scale += Math.Abs(term);
            gS[j] = -q[j] / (p[j] + Eps);
            gT[j] = -Log1P(u, p[j], qe) + q[j] / qe;
            ds += gS[j] * p[j];
            dt += gT[j] * q[j];
        }
        var hs = new double[n];
        var ht = new double[n];
        for (int j = 0; j < n; j++) { hs[j] = 0.5 * (gS[j] - ds) / rs; ht[j] = 0.5 * (gT[j] - dt) / rt; }
        return (loss, scale, hs, ht);
    }

    static void CheckRows<T>(int n, double near, bool mixed, double tolerance) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var (gs64, gt64) = Grams(n, near, mixed, 1000 + n);
        // The oracle reads the T-rounded Grams, so only the epilogue's own rounding is measured.
        var gs = gs64.Select(T.CreateTruncating).ToArray();
        var gt = gt64.Select(T.CreateTruncating).ToArray();
        gs64 = gs.Select(double.CreateTruncating).ToArray();
        gt64 = gt.Select(double.CreateTruncating).ToArray();
        var partial = new T[n];
        var hs = new T[n * n];
        var ht = new T[n * n];
        fixed (T* a = gs, b = gt, part = partial, hS = hs, hT = ht)
        {
            T eps = T.CreateTruncating(Eps);
            CpuPkt.LossRows(a, b, part, n, eps);
            CpuPkt.BackwardRows(a, b, hS, n, eps, T.One, false);
            CpuPkt.BackwardRows(a, b, hT, n, eps, T.One, true);
        }
        for (int i = 0; i < n; i++)
        {
            var (loss, scale, wantS, wantT) = Oracle(gs64, gt64, n, i);
            Assert.That(Math.Abs(double.CreateTruncating(partial[i]) - loss), Is.LessThanOrEqualTo(tolerance * scale),
                        $"{typeof(T).Name} n {n} near {near}: loss row {i}: {partial[i]} vs {loss}");
            foreach (var (name, got, want) in new[] { ("student", hs, wantS), ("teacher", ht, wantT) })
            {
                double max = want.Max(Math.Abs), err = 0;
                for (int j = 0; j < n; j++) err = Math.Max(err, Math.Abs(double.CreateTruncating(got[i * n + j]) - want[j]));
                Assert.That(err, Is.LessThanOrEqualTo(tolerance * max), $"{typeof(T).Name} n {n} near {near}: ∂L/∂S {name} row {i}");
            }
        }
    }

    /// <summary>float32: mixed rows (near-only float32 rows are dominated by the rounding of p and q, relative δu/u, and
    /// test nothing more). Near-only rows at |u| ~ 1e-5 in float64, where u − log(1 + u) taken directly loses ~1e-6 of φ: a lane on
    /// the wrong branch fails at 1e-9 (the rounding of p and q alone moves φ by ~1e-10 there). Mixed rows: chunks with
    /// lanes on both branches. Odd n leave a scalar tail after the SIMD chunks; n = 1, 2 are tail only.</summary>
    [Test]
    public void Cpu_rows_match_a_float64_oracle_near_far_and_mixed([Values(1, 2, 5, 8, 19, 32, 67)] int n)
    {
        CheckRows<double>(n, 1e-5, false, 1e-9);
        CheckRows<double>(n, 0.05, true, 1e-10);
        CheckRows<float>(n, 0.05, true, 2e-5);
    }

    /// <summary>A NaN Gram entry (from a NaN input) gives a NaN partial and NaN gradients in its row, whichever branch its
    /// lane's neighbours take.</summary>
    [Test]
    public void Nan_entry_gives_nan_rows()
    {
        const int n = 16;
        var (gs64, gt64) = Grams(n, 1e-3, true, 7);
        var gs = gs64.Select(x => (float)x).ToArray();
        var gt = gt64.Select(x => (float)x).ToArray();
        gs[3 * n + 5] = float.NaN;
        var partial = new float[n];
        var h = new float[n * n];
        fixed (float* a = gs, b = gt, part = partial, hh = h)
        {
            CpuPkt.LossRows(a, b, part, n, 1e-7f);
            Assert.That(float.IsNaN(partial[3]), "loss row with the NaN");
            Assert.That(float.IsFinite(partial[2]), "other rows stay finite");
            CpuPkt.BackwardRows(a, b, hh, n, 1e-7f, 1f, true);
            Assert.That(float.IsNaN(h[3 * n + 5]), "teacher ∂L/∂S at the NaN");
        }
    }

    [Test]
    public void Symmetrize_equals_h_plus_h_transposed_bit_for_bit([Values(1, 2, 3, 31, 32, 33, 70)] int n)
    {
        var rng = new Random(n);
        var h = Enumerable.Range(0, n * n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var want = new float[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) want[i * n + j] = h[i * n + j] + h[j * n + i];
        fixed (float* p = h) CpuPkt.Symmetrize(p, n);
        Assert.That(h, Is.EqualTo(want).AsCollection, $"n {n}");
    }

    /// <summary>The teacher's term −log(1 + u) − eps/(q + eps) where the teacher's probability is ~0 (u up to 1/eps): as
    /// φ(u) − u it cancels u against itself (float32: 5e-5 relative at u = 1e4, more as u grows); taken as the log, a few ulp.
    /// This is the scalar maths of the device kernels and of the CPU rows' tail.</summary>
    [Test]
    public void Teacher_gradient_term_is_accurate_where_the_teacher_probability_vanishes()
    {
        foreach (float p in new[] { 1e-3f, 0.01f, 0.5f })
        foreach (float q in new[] { 0f, 1e-9f, 1e-7f, 1e-5f })
        {
            float eps = 1e-7f;
            double qe = (double)q + eps, want = Math.Log(qe / ((double)p + eps)) + q / qe - 1;
            float got = PktMath.Grad(p, q, eps, 1);
            Assert.That(Math.Abs(got - want), Is.LessThanOrEqualTo(1e-5 * Math.Abs(want)), $"p {p}, q {q}: {got} vs {want}");
        }
    }
}
