using GpuKd.Kernels.Ilgpu;
using ILGPU;
using ILGPU.Runtime;

namespace GpuKd.KernelBench;

/// <summary>
/// Runs every op once at one small, awkward size on the chosen accelerator — b = 33, student width
/// 36, teacher width 20 on CUDA (naive 16×16 tiles: two full, one ragged; the register-tiled
/// kernel: one ragged 64×64 block, K in two or three slices of 16, the last ragged), b = 9, widths
/// 6 and 11 on the CPU simulator (kept small for speed) — once per product kernel (register-tiled
/// and naive, unless the device is forced to one), and compares with
/// <see cref="CpuReference"/> in float64: relation
/// outputs by max|Δ|/max|ref|, loss values by |Δ|/|ref|, student gradients by ‖Δ‖/‖ref‖ against
/// central differences. The bar is DESIGN §5's 1e-4 for float32. One more check per kernel, "gram exact", counts
/// bit-level mismatches (duplicate rows, symmetry) and passes only at 0.
/// </summary>
internal static class Validation
{
    public const double Bar = 1e-4;

    /// <summary>(b, student width, teacher width) validated on <paramref name="device"/>.</summary>
    public static (int B, int Ds, int Dt) Size(IlgpuDevice device) => device.IsCuda ? (33, 36, 20) : (9, 6, 11);

    /// <summary>The product kernels validated: both unless the device is forced to one.</summary>
    public static ProductKernel[] Products(IlgpuDevice device)
        => device.Product == ProductKernel.Auto ? [ProductKernel.Tiled, ProductKernel.Naive] : [device.Product];

    /// <summary>One line per check and product kernel: (op, what, product kernel, relative error, passed);
    /// <paramref name="size"/> overrides <see cref="Size"/>.</summary>
    public static List<(string Op, string What, ProductKernel Product, double Error, bool Passed)> Run(IlgpuDevice device, (int B, int Ds, int Dt)? size = null)
    {
        var chosen = device.Product;
        var all = new List<(string, string, ProductKernel, double, bool)>();
        try
        {
            foreach (var product in Products(device))
            {
                device.Product = product;
                all.AddRange(RunOnce(device, size ?? Size(device)).Select(r => (r.Op, r.What, product, r.Error, r.Passed)));
            }
        }
        finally { device.Product = chosen; }
        return all;
    }

    static List<(string Op, string What, double Error, bool Passed)> RunOnce(IlgpuDevice device, (int B, int Ds, int Dt) size)
    {
        var (B, Ds, Dt) = size;
        var xs = Inputs.Normal(B * Ds, 11);
        var xt = Inputs.Normal(B * Dt, 12);
        double[] s = xs.Select(v => (double)v).ToArray(), t = xt.Select(v => (double)v).ToArray();
        var results = new List<(string, string, double, bool)>();
        foreach (var spec in OpCatalog.All)
        {
            using var op = spec.Create(device, xs, xt, B, Ds, Dt);
            op.Forward();
            if (!spec.IsLoss)
            {
                double[] want = spec.Name switch
                {
                    "gram" => CpuReference.Gram(s, B, Ds),
                    "cosine" => CpuReference.Cosine(s, B, Ds),
                    "pdist" => CpuReference.Pdist(s, B, Ds),
                    "triplet_angles" => CpuReference.Angles(s, B, Ds),
                    _ => throw new InvalidOperationException(spec.Name),
                };
                Add(results, spec.Name, "output", MaxRelative(op.Read(op.Output, want.Length), want));
                continue;
            }
            double loss = CpuReference.Loss(spec.Name, s, t, B, Ds, Dt);
            Add(results, spec.Name, "loss", Math.Abs(op.Loss - loss) / Math.Abs(loss));
            op.Backward();
            var grad = CpuReference.Gradient(spec.Name, s, t, B, Ds, Dt);
            Add(results, spec.Name, "grad", NormRelative(op.Read(op.Grad, grad.Length), grad));
        }
        double mismatches = ExactnessMismatches(device);
        results.Add(("gram", "exact", mismatches, mismatches == 0));
        return results;
    }

    /// <summary>The bit-level properties the distance ops rely on, on the device's own arithmetic: in a Gram of 70 rows
    /// (two 64-row blocks of the tiled kernel, five 16-row naive tiles) where rows 0, 17, 33, 64 and 69 equal row 5,
    /// every G_pq of those rows equals G_55 bit for bit, and G is bit-symmetric. Returns the number of mismatches.</summary>
    static double ExactnessMismatches(IlgpuDevice device)
    {
        const int n = 70, d = 24;
        var x = Inputs.Normal(n * d, 13);
        int[] same = [5, 0, 17, 33, 64, 69];
        foreach (int r in same[1..]) Array.Copy(x, 5 * d, x, r * d, d);
        using var xb = device.Accelerator.Allocate1D(x);
        using var gb = device.Accelerator.Allocate1D<float>(n * n);
        device.For<float>().Gram(xb.View, gb.View, 1, n, d);
        device.Accelerator.Synchronize();
        var g = gb.GetAsArray1D();
        int bad = 0;
        foreach (int p in same)
            foreach (int q in same)
                if (BitConverter.SingleToInt32Bits(g[p * n + q]) != BitConverter.SingleToInt32Bits(g[5 * n + 5])) bad++;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < i; j++)
                if (BitConverter.SingleToInt32Bits(g[i * n + j]) != BitConverter.SingleToInt32Bits(g[j * n + i])) bad++;
        return bad;
    }

    static void Add(List<(string, string, double, bool)> list, string op, string what, double error)
        => list.Add((op, what, error, error <= Bar));   // NaN fails

    static double MaxRelative(float[] got, double[] want)
    {
        double diff = 0, scale = 0;
        for (int i = 0; i < want.Length; i++)
        {
            double e = Math.Abs(got[i] - want[i]);
            diff = double.IsNaN(e) ? double.NaN : Math.Max(diff, e);
            scale = Math.Max(scale, Math.Abs(want[i]));
        }
        return diff / scale;
    }

    static double NormRelative(float[] got, double[] want)
    {
        double diff = 0, norm = 0;
        for (int i = 0; i < want.Length; i++) { double e = got[i] - want[i]; diff += e * e; norm += want[i] * want[i]; }
        return Math.Sqrt(diff / norm);
    }
}
