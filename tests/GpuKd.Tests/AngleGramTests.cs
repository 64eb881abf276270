using GpuKd.Device;
using GpuKd.Kernels.Cpu;
using GpuKd.Kernels.Ilgpu;
using GpuKd.Kernels.Maths;
using ILGPU;
using ILGPU.Runtime;
using NUnit.Framework;

namespace GpuKd.Tests;

/// <summary>
/// The float32 angle table (<see cref="AngleMath"/>, issue 15 §3): the pseudo-Gram G' = G − (ℓ1ᵀ + 1ℓᵀ)/2, ℓ = N − (float)N,
/// that the O(b³) angle passes read. Its diagonal is the double squared norm rounded once, and every angle numerator
/// G'_bc − G'_ab − G'_ac + G'_aa and every distance G'_aa + G'_bb − 2G'_ab is that of the exact table (true diagonal N)
/// up to the rounding of the small off-diagonal entries — where a float32 diagonal alone is off by up to half an ulp of
/// N, the same for all b² angles of an apex. The CPU kernel and the ILGPU kernel are the same maths (bit-identical).
/// </summary>
public sealed unsafe class AngleGramTests
{
    /// <summary>A float32 Gram of random centred rows [n, d] (bit-symmetric) and the rows' squared norms in double.</summary>
    static (float[] G, double[] Norms) Table(int n, int d, int seed)
    {
        var rng = new Random(seed);
        var x = new float[n * d];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
        var g = new float[n * n];
        var norms = new double[n];
        for (int i = 0; i < n; i++)
        {
            for (int k = 0; k < d; k++) norms[i] += (double)x[i * d + k] * x[i * d + k];
            for (int j = i; j < n; j++)
            {
                float s = 0;
                for (int k = 0; k < d; k++) s += x[i * d + k] * x[j * d + k];
                g[i * n + j] = g[j * n + i] = s;
            }
        }
        return (g, norms);
    }

    static float[] OnCpu(float[] g, double[] norms, int n)
    {
        var t = (float[])g.Clone();
        fixed (float* pg = t)
        fixed (double* pn = norms)
            CpuWide.AngleGram(pg, pn, n);
        return t;
    }

    static float[] OnIlgpu(float[] g, double[] norms, int n)
    {
        var device = KdRuntime.IlgpuCpu();
        lock (device.Gate)
        {
            var acc = device.Accelerator;
            var kernel = acc.LoadAutoGroupedStreamKernel<Index2D, ArrayView<float>, ArrayView<double>, int>(WideKernels.AngleGram);
            using var gb = acc.Allocate1D(g);
            using var nb = acc.Allocate1D(norms);
            kernel(new Index2D(n, n), gb.View, nb.View, n);
            acc.Synchronize();
            return gb.GetAsArray1D();
        }
    }

    /// <summary>max over triplets (a; b, c ≠ a) of |numerator of t − exact numerator| (in double, exact table: G off the
    /// diagonal, N on it), and the same for the distances.</summary>
    static (double Numerator, double Distance) Errors(float[] t, float[] g, double[] norms, int n)
    {
        double num = 0, dist = 0;
        double G(int i, int j) => i == j ? norms[i] : g[i * n + j];
        for (int a = 0; a < n; a++)
            for (int b = 0; b < n; b++)
            {
                if (b == a) continue;
                double q = (double)t[a * n + a] + t[b * n + b] - 2.0 * t[a * n + b];
                dist = Math.Max(dist, Math.Abs(q - (G(a, a) + G(b, b) - 2 * G(a, b))));
                for (int c = 0; c < n; c++)
                {
                    if (c == a) continue;
                    double ours = (double)t[b * n + c] - t[a * n + b] - t[a * n + c] + t[a * n + a];
                    num = Math.Max(num, Math.Abs(ours - (G(b, c) - G(a, b) - G(a, c) + G(a, a))));
                }
            }
        return (num, dist);
    }

    [TestCase(2, 7, 1)]
    [TestCase(5, 257, 2)]
    [TestCase(17, 1000, 3)]
    [TestCase(31, 257, 4)]
    public void The_pseudo_Gram_keeps_every_numerator_and_distance_to_the_off_diagonal_rounding(int n, int d, int seed)
    {
        var (g, norms) = Table(n, d, seed);
        var cpu = OnCpu(g, norms, n);
        var dev = OnIlgpu(g, norms, n);
        Assert.That(dev, Is.EqualTo(cpu), "ILGPU kernel = CPU kernel, bit for bit (one source: AngleMath)");
        double offMax = 0, diagMax = 0;
        for (int i = 0; i < n; i++)
        {
            Assert.That(cpu[i * n + i], Is.EqualTo((float)norms[i]), $"diagonal {i}: the norm rounded once");
            diagMax = Math.Max(diagMax, norms[i]);
            for (int j = 0; j < n; j++)
            {
                Assert.That(cpu[i * n + j], Is.EqualTo(cpu[j * n + i]), $"bit-symmetric at ({i}, {j})");
                if (i != j) offMax = Math.Max(offMax, Math.Abs(cpu[i * n + j]));
            }
        }
        // Three off-diagonal entries per numerator, each within half an ulp of its exact shifted value.
        double bound = 1.5 * (MathF.BitIncrement((float)offMax) - (float)offMax);
        var (numErr, distErr) = Errors(cpu, g, norms, n);
        if (n >= 3) Assert.That(numErr, Is.LessThanOrEqualTo(bound), $"numerators (off-diagonal max {offMax:G4}, diagonal max {diagMax:G4})");
        Assert.That(distErr, Is.LessThanOrEqualTo(bound), "distances");

        // Teeth: the plain float32 diagonal (no shift) misses that bound wherever a norm's rounding exceeds it.
        var plain = (float[])g.Clone();
        for (int i = 0; i < n; i++) plain[i * n + i] = (float)norms[i];
        var (plainNum, _) = Errors(plain, g, norms, n);
        if (d >= 257 && n >= 3) Assert.That(plainNum, Is.GreaterThan(bound), "the unshifted table should miss the bound");
    }

    /// <summary>RMS over triplets of (f(G'_bc, G'_aa, G'_ab, G'_ac) − exact numerator) / ulp(exact numerator), f in float32.</summary>
    static double NumeratorUlps(float[] t, float[] g, double[] norms, int n, Func<float, float, float, float, float> f)
    {
        double sum = 0;
        long count = 0;
        double G(int i, int j) => i == j ? norms[i] : g[i * n + j];
        for (int a = 0; a < n; a++)
            for (int b = 0; b < n; b++)
                for (int c = 0; c < n; c++)
                {
                    if (b == a || c == a) continue;
                    double exact = G(b, c) - G(a, b) - G(a, c) + G(a, a);
                    float e = (float)Math.Abs(exact);
                    double ulp = MathF.BitIncrement(e) - e;
                    double err = (f(t[b * n + c], t[a * n + a], t[a * n + b], t[a * n + c]) - exact) / ulp;
                    sum += err * err;
                    count++;
                }
        return Math.Sqrt(sum / count);
    }

    /// <summary>The passes' numerator (<see cref="AngleMath.Numerator{T}"/>, small terms first) on the pseudo-Gram: about one
    /// rounding of the exact numerator (one correct rounding has an RMS error of ≈ 0.29 ulp; the off-diagonal entries add
    /// their ≈ √D-times smaller ones); the former order ((G_bc + G_aa) − (G_ab + G_ac)), three roundings at that
    /// magnitude, is ≈ 1.4× that in RMS (0.41 against 0.30 ulp at n = 31, D = 257).</summary>
    [TestCase(17, 1000, 3)]
    [TestCase(31, 257, 4)]
    public void The_numerator_rounds_about_once_at_its_own_magnitude(int n, int d, int seed)
    {
        var (g, norms) = Table(n, d, seed);
        var t = OnCpu(g, norms, n);
        double ours = NumeratorUlps(t, g, norms, n, AngleMath.Numerator);
        double former = NumeratorUlps(t, g, norms, n, (gbc, gaa, gab, gac) => (gbc + gaa) - (gab + gac));
        TestContext.Out.WriteLine($"n={n} D={d}: RMS numerator error {ours:F3} ulp (former order {former:F3} ulp)");
        Assert.That(ours, Is.LessThanOrEqualTo(0.4), "AngleMath.Numerator on the pseudo-Gram");
        Assert.That(former, Is.GreaterThan(1.3 * ours), "teeth: the former order is clearly worse");
    }

    [Test]
    public void Non_finite_norms_give_non_finite_entries()
    {
        var (g, norms) = Table(4, 9, 5);
        norms[2] = double.NaN;
        norms[3] = double.PositiveInfinity;
        var t = OnCpu(g, norms, 4);
        Assert.That(OnIlgpu(g, norms, 4), Is.EqualTo(t));
        for (int j = 0; j < 4; j++)
        {
            Assert.That(float.IsFinite(t[2 * 4 + j]), Is.False, $"NaN norm: row 2, column {j}");
            Assert.That(float.IsFinite(t[j * 4 + 3]), Is.False, $"Inf norm: column 3, row {j}");
        }
        Assert.That(float.IsFinite(t[0 * 4 + 1]), Is.True, "finite rows stay finite");
    }
}
