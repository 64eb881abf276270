using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;
using static GpuKd.Tests.OpRunner;

namespace GpuKd.Tests;

/// <summary>
/// Degenerate numerics over every public op (<see cref="PublicOps"/>), both backends, float32 and float64: features
/// of norm 1e20 and 1e-20 (float32 squared norms overflow / underflow: 1e40, 1e-40), all-zero inputs (max = 0),
/// duplicate samples and all-identical batches. The promise: a value or gradient whose true size is representable
/// (value ∝ s^Degree, gradient ∝ s^(Degree−1)) is finite — no NaN, no Inf — and one beyond the dtype's range is
/// non-finite, never a finite wrong number (the raw Gram of 1e20 features in float32: value non-finite, gradient finite). Scale-free ops give the same
/// value at 1e20 as at 1 (the power-of-two range guard is exact). Exact parity with the reference on degenerate rows
/// is <see cref="DegenerateRowTests"/> and <see cref="PairLossTests"/>; this file is the no-NaN/Inf sweep.
/// </summary>
[TestFixture(KdBackend.Cpu)]
[TestFixture(KdBackend.Ilgpu)]
public sealed class ExtremeScaleTests(KdBackend backend) : BackendFixture(backend)
{
    const int B = 5;

    /// <summary>log10 of the largest magnitude trusted to stay finite in <paramref name="dtype"/> (margin for sums over b, D).</summary>
    static double MaxLog10(ScalarType dtype) => dtype == ScalarType.Float32 ? 35 : 300;

    [TestCaseSource(typeof(PublicOps), nameof(PublicOps.Names))]
    public void Huge_and_tiny_features_give_no_NaN_and_no_spurious_Inf(string name)
    {
        using var _ = UseBackend();
        var op = PublicOps.Get(name);
        foreach (var dtype in new[] { ScalarType.Float32, ScalarType.Float64 })
        foreach (var log10 in new[] { 20, -20 })
        {
            using var scope = NewDisposeScope();
            double s = Math.Pow(10, log10);
            var where = Label(name, dtype, $"features × 1e{log10}");
            var xs = op.Inputs(B).Select(x => (x * s).to(dtype)).ToArray();
            var (value, grads) = Run(op, xs);
            bool valueFits = op.Degree * log10 < MaxLog10(dtype), gradFits = (op.Degree - 1) * log10 < MaxLog10(dtype);
            // Where the true value is beyond the dtype's range it must be non-finite (never a finite wrong number).
            Assert.That(Tolerances.AllFinite(value), Is.EqualTo(valueFits), where + (valueFits ? ": value finite" : ": value overflows honestly"));
            if (gradFits)
                for (int k = 0; k < xs.Length; k++)
                    Assert.That(Tolerances.AllFinite(grads[k]), $"{where}: {op.Args[k]} gradient finite");
            if (op.Degree == 0 && op.ScaleFree && log10 > 0)
            {
                // Scale-free: the value equals the unit-scale one (in float64 the inputs are the same up to rounding of ×1e20).
                var unit = op.Call(op.Inputs(B).Select(x => x.to(dtype)).ToArray());
                Tolerances.AssertClose(value, unit, Math.Max(dtype == ScalarType.Float32 ? 1e-5 : 1e-12, op.ScaleFreeTolerance ?? 0), where + ": value equals the unit-scale value", floor: 1e-3);
            }
        }
    }

    /// <summary>The range guard's factor: a power of two only outside the safe range; 1 (no rescaling) for NaN/Inf, so they
    /// propagate; the in-place SIMD scan of contiguous CPU tensors (lanes and tail) agrees with the reductions' path.</summary>
    [Test]
    public void Range_guard_factor()
    {
        using var scope = NewDisposeScope();
        foreach (var dtype in new[] { ScalarType.Float32, ScalarType.Float64 })
        foreach (var n in new[] { 1, 7, 16, 37 })
        {
            var x = Inputs.Randn([n, 3], dtype);
            var where = $"{dtype} [{n}, 3]";
            Assert.That(Scaling.Factor(x), Is.EqualTo(1.0), where + ": unit scale");
            var huge = (x * 1e20).to(dtype);
            double f = Scaling.Factor(huge);
            Assert.That(f, Is.EqualTo(Scaling.Factor(huge.t().contiguous().t())), where + ": strided path agrees");
            double scaled = huge.abs().max().to(ScalarType.Float64).item<double>() * f;
            Assert.That(dtype == ScalarType.Float64 ? f == 1 : scaled is >= 1 and < 2, where + $": 1e20 → max·f = {scaled} (float64 has the range)");
            Assert.That(Math.ScaleB(1.0, Math.ILogB(f)), Is.EqualTo(f), where + ": a power of two");
            Assert.That(Scaling.Factor(huge, up: true), Is.EqualTo(f), where + ": up changes nothing for huge");
            var tiny = (x * 1e-20).to(dtype);
            Assert.That(Scaling.Factor(tiny), Is.EqualTo(1.0), where + ": tiny left alone by default");
            if (dtype == ScalarType.Float32) Assert.That(Scaling.Factor(tiny, up: true), Is.GreaterThan(1.0), where + ": tiny scaled up on request");
            foreach (var bad in new[] { double.NaN, double.PositiveInfinity })
            {
                var poisoned = huge.clone();
                poisoned.view(-1)[n * 3 - 1] = bad;   // the last element: the scan's tail or last lane
                Assert.That(Scaling.Factor(poisoned), Is.EqualTo(1.0), $"{where}: {bad} → no rescaling");
            }
        }
    }

    /// <summary>All-zero inputs (every distance 0, every max 0), sample 1 = sample 0 in every input, all samples equal.</summary>
    [TestCaseSource(typeof(PublicOps), nameof(PublicOps.Names))]
    public void Zero_duplicate_and_identical_samples_give_finite_values_and_gradients(string name)
    {
        using var _ = UseBackend();
        var op = PublicOps.Get(name);
        foreach (var dtype in new[] { ScalarType.Float32, ScalarType.Float64 })
        {
            using var scope = NewDisposeScope();
            var cases = new (string Why, Tensor[] Inputs)[]
            {
                ("all zero", op.Shapes(B).Select(s => zeros(s, dtype)).ToArray()),
                ("sample 1 = sample 0", op.Inputs(B, dtype).Select(Dup).ToArray()),
                ("all samples equal", op.Inputs(1, dtype).Zip(op.Shapes(B)).Select(p => p.First.expand(p.Second).contiguous()).ToArray()),
            };
            foreach (var (why, xs) in cases)
            {
                var (value, grads) = Run(op, xs);
                var where = Label(name, dtype, why);
                Assert.That(Tolerances.AllFinite(value), where + ": value finite");
                for (int k = 0; k < xs.Length; k++)
                    Assert.That(Tolerances.AllFinite(grads[k]), $"{where}: {op.Args[k]} gradient finite");
            }
        }
    }

    /// <summary>x with sample 1 replaced by sample 0 (dim 0 is the batch for every argument here, except the batched cosine's [2, b, D]).</summary>
    static Tensor Dup(Tensor x)
    {
        var y = x.clone();
        int dim = x.dim() == 3 && x.shape[0] == 2 ? 1 : 0;
        using (no_grad()) y.select(dim, 1).copy_(y.select(dim, 0));
        return y;
    }
}
