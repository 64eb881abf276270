using GpuKd.Device;
using GpuKd.Kernels.Ilgpu;
using ILGPU;
using ILGPU.Runtime;
using NUnit.Framework;

namespace GpuKd.Tests;

/// <summary>
/// <see cref="IlgpuLaunchers{T}.Sum"/>: the total of a table reduced on the device (compensated column sums, then the
/// column totals added in order in double), which the GPU harness uses for RKD's μ instead of copying b² values back.
/// </summary>
public sealed class DeviceSumTests
{
    static IlgpuDevice Device => KdRuntime.IlgpuCpu();

    static double Sum(float[] x, int rows, int d)
    {
        lock (Device.Gate)
        {
            using var buf = Device.Accelerator.Allocate1D(x);
            using var cols = Device.Accelerator.Allocate1D<float>(d);
            return Device.For<float>().Sum(buf.View, cols.View, rows, d);
        }
    }

    [Test]
    public void Compensated_column_sums_keep_what_a_plain_float32_sum_drops()
    {
        // Each column: 1 on top, then 999 entries of 1e-8 (each below half an ulp of 1 in float32: a plain float32
        // running sum stays at 1 and loses 1e-5; the compensated one keeps it).
        const int rows = 1000, d = 3;
        var x = new float[rows * d];
        for (int r = 0; r < rows; r++)
            for (int k = 0; k < d; k++) x[r * d + k] = r == 0 ? 1f + k : 1e-8f;
        double exact = 0;
        foreach (var v in x) exact += v;
        double got = Sum(x, rows, d);
        Assert.That(Math.Abs(got - exact) / exact, Is.LessThan(1e-7), $"got {got:r}, exact {exact:r}");
        Assert.That(Sum(x, rows, d), Is.EqualTo(got), "deterministic");
    }

    [Test]
    public void Matches_a_double_sum_of_random_entries_and_checks_sizes()
    {
        var r = new Random(7);
        const int rows = 37, d = 29;
        var x = Enumerable.Range(0, rows * d).Select(_ => (float)r.NextDouble() * 3).ToArray();
        double exact = x.Sum(v => (double)v);
        Assert.That(Math.Abs(Sum(x, rows, d) - exact) / exact, Is.LessThan(1e-7));
        Assert.That(() => Sum(x, rows + 1, d), Throws.ArgumentException.With.Message.Contains("x"));
    }
}
