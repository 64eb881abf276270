using GpuKd.Device;
using GpuKd.Kernels.Cpu;
using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Tests;

/// <summary>The CPU fast path's widened Gram kernel on its own (no backend fixture: it is the CPU path's kernel; the
/// programs' widened Gram is held to the same bars through the losses in <see cref="Float32WideFastPathTests"/>).</summary>
public sealed class CpuWideGramTests
{
    /// <summary>The widened Gram itself (<see cref="CpuBackend.WideGram"/>): bit-symmetric, exact zeros in a zero row's row
    /// and column, and within float32's GEMM round-off of the float64 XXᵀ even with a shared offset of 100 (where a
    /// float32 XXᵀ keeps ≈ 3 digits of XcXcᵀ); the cosines variant equals G_ij/(n_i n_j).</summary>
    [Test]
    public void Widened_gram_is_symmetric_exact_on_zero_rows_and_keeps_the_centred_part()
    {
        foreach (var (b, d) in new[] { (1, 1), (2, 5), (3, 13), (17, 37), (40, 9) })
        {
            using var scope = NewDisposeScope();
            var x = Inputs.WithZeroRow(Inputs.Offset([b, d], ScalarType.Float32, salt: 78), b - 1);
            var (xc, mean, g, norms) = CpuBackend.Instance.WideGram(x, normalise: false, 0);
            var (_, _, a, n) = CpuBackend.Instance.WideGram(x, normalise: true, 1e-12);
            string at = $"b={b} D={d} offset 100, last row zero";
            Assert.That(Tolerances.Identical(g, g.t().contiguous()), $"{at}: G bit-symmetric");
            Assert.That(Tolerances.Identical(a, a.t().contiguous()), $"{at}: A bit-symmetric");
            Assert.That(g[b - 1].abs().max().item<double>(), Is.EqualTo(0), $"{at}: zero row of G");
            Assert.That(a[b - 1].abs().max().item<double>(), Is.EqualTo(0), $"{at}: zero row of A");
            Assert.That(norms.numel(), Is.EqualTo(0), $"{at}: no norms unless normalised");
            var x64 = Inputs.Exact64(x);
            var mu64 = x64.mean([0L]);
            var exact = x64.mm(x64.t());
            var centred = (x64 - mu64).mm((x64 - mu64).t());
            // The error of G lies in the centred part: measured against it, not against G's offset-dominated entries.
            double err = Tolerances.Norm(g - exact) / Math.Max(Tolerances.Norm(centred), 1e-300);
            Assert.That(err, Is.LessThan(1e-6), $"{at}: ‖G − XXᵀ‖ / ‖XcXcᵀ‖");
            Tolerances.AssertClose(xc.to(ScalarType.Float64) + mean.to(ScalarType.Float64), x64, 1e-7, $"{at}: Xc + μ = X");
            var nExact = exact.diagonal().sqrt();
            Tolerances.AssertClose(n, nExact, 1e-7, $"{at}: norms");   // Xc = fl(X − μ) is exact only within a factor 2 of μ
            var denom = nExact.clamp_min(1e-12);
            var aExact = exact / denom.unsqueeze(1) / denom.unsqueeze(0);
            Assert.That(Tolerances.Norm(a - aExact) / Math.Sqrt(b), Is.LessThan(1e-5), $"{at}: A");
        }
    }
}
