namespace GpuKd.KernelBench;

/// <summary>
/// Naive float64 CPU evaluations of the published reference definitions (REFERENCE.md), written
/// from the formulas and sharing no code with the kernels: the check that a fast GPU result is
/// also a right one. Rows are x[i·d .. i·d + d). Gradients are central differences of these.
/// </summary>
internal static class CpuReference
{
    const double Eps = 1e-12;

    static double Dot(double[] x, int d, int i, int j)
    {
        double s = 0;
        for (int k = 0; k < d; k++) s += x[i * d + k] * x[j * d + k];
        return s;
    }

    /// <summary>G = XXᵀ.</summary>
    public static double[] Gram(double[] x, int b, int d)
    {
        var g = new double[b * b];
        for (int i = 0; i < b; i++)
            for (int j = 0; j < b; j++) g[i * b + j] = Dot(x, d, i, j);
        return g;
    }

    /// <summary>Rows divided by max(‖row‖, 1e-12) (F.normalize).</summary>
    public static double[] Normalize(double[] x, int b, int d)
    {
        var u = new double[x.Length];
        for (int i = 0; i < b; i++)
        {
            double n = Math.Max(Math.Sqrt(Dot(x, d, i, i)), Eps);
            for (int k = 0; k < d; k++) u[i * d + k] = x[i * d + k] / n;
        }
        return u;
    }

    public static double[] Cosine(double[] x, int b, int d) => Gram(Normalize(x, b, d), b, d);

    /// <summary>RKD pdist: √max(‖x_i − x_j‖², 1e-12), diagonal 0 (squared: without the root).</summary>
    public static double[] Pdist(double[] x, int b, int d, bool squared = false)
    {
        var r = new double[b * b];
        for (int i = 0; i < b; i++)
            for (int j = 0; j < b; j++)
            {
                if (i == j) continue;
                double q = 0;
                for (int k = 0; k < d; k++) { double e = x[i * d + k] - x[j * d + k]; q += e * e; }
                q = Math.Max(q, Eps);
                r[i * b + j] = squared ? q : Math.Sqrt(q);
            }
        return r;
    }

    /// <summary>A[a,c,e] = u_ac·u_ae with u_ac = (x_c − x_a)/max(‖x_c − x_a‖, 1e-12) (RKD angle).</summary>
    public static double[] Angles(double[] x, int b, int d)
    {
        var u = new double[b * b * d];
        for (int a = 0; a < b; a++)
            for (int c = 0; c < b; c++)
            {
                double n = 0;
                for (int k = 0; k < d; k++) { double e = x[c * d + k] - x[a * d + k]; n += e * e; }
                n = Math.Max(Math.Sqrt(n), Eps);
                for (int k = 0; k < d; k++) u[(a * b + c) * d + k] = (x[c * d + k] - x[a * d + k]) / n;
            }
        var r = new double[b * b * b];
        for (int a = 0; a < b; a++)
            for (int c = 0; c < b; c++)
                for (int e = 0; e < b; e++)
                {
                    double s = 0;
                    for (int k = 0; k < d; k++) s += u[(a * b + c) * d + k] * u[(a * b + e) * d + k];
                    r[(a * b + c) * b + e] = s;
                }
        return r;
    }

    static double SmoothL1(double z)
    {
        z = Math.Abs(z);
        return z < 1 ? 0.5 * z * z : z - 0.5;
    }

    static double[] OverMean(double[] dist)
    {
        double s = 0; int m = 0;
        foreach (var v in dist) if (v > 0) { s += v; m++; }
        return dist.Select(v => v / (s / m)).ToArray();
    }

    /// <summary>The losses, by the names of <see cref="OpCatalog"/>: (student, teacher) → value.</summary>
    public static double Loss(string name, double[] s, double[] t, int b, int ds, int dt) => name switch
    {
        "rkd_distance" => MeanOf(OverMean(Pdist(s, b, ds)), OverMean(Pdist(t, b, dt)), SmoothL1),
        "rkd_angle" => MeanOf(Angles(s, b, ds), Angles(t, b, dt), SmoothL1),
        "sp" => MeanOf(RowNormalized(Gram(s, b, ds), b), RowNormalized(Gram(t, b, dt), b), z => z * z),
        "cc" => MeanOf(Taylor(Cosine(s, b, ds)), Taylor(Cosine(t, b, dt)), z => z * z),
        "irg_edge" => MeanOf(OverMax(Pdist(s, b, ds, squared: true)), OverMax(Pdist(t, b, dt, squared: true)), z => z * z),
        _ => throw new ArgumentException($"no reference for {name}", nameof(name)),
    };

    static double MeanOf(double[] p, double[] q, Func<double, double> f)
    {
        double s = 0;
        for (int i = 0; i < p.Length; i++) s += f(p[i] - q[i]);
        return s / p.Length;
    }

    static double[] RowNormalized(double[] g, int b) => Normalize(g, b, b);

    /// <summary>CC's kernel: Σ_{p ≤ P} e^{−2γ}(2γ)^p/p! · a^p.</summary>
    static double[] Taylor(double[] a) => a.Select(v =>
    {
        double f = 0, term = Math.Exp(-2 * CcOp.Gamma);
        for (int p = 0; p <= CcOp.Order; p++) { f += term * Math.Pow(v, p); term *= 2 * CcOp.Gamma / (p + 1); }
        return f;
    }).ToArray();

    static double[] OverMax(double[] q)
    {
        double m = q.Max();
        return q.Select(v => m > 0 ? v / m : 0).ToArray();
    }

    /// <summary>∂Loss/∂student by central differences (h = 1e-6 per coordinate).</summary>
    public static double[] Gradient(string name, double[] s, double[] t, int b, int ds, int dt)
    {
        const double h = 1e-6;
        var g = new double[s.Length];
        var p = (double[])s.Clone();
        for (int k = 0; k < s.Length; k++)
        {
            p[k] = s[k] + h;
            double up = Loss(name, p, t, b, ds, dt);
            p[k] = s[k] - h;
            double down = Loss(name, p, t, b, ds, dt);
            p[k] = s[k];
            g[k] = (up - down) / (2 * h);
        }
        return g;
    }
}
