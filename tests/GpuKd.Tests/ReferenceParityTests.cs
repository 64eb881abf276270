using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Tests;

/// <summary>
/// Float64 parity with the published compositions (<see cref="GpuKd.Reference.ReferenceOps"/>):
/// same value and same gradient of Σ W ⊙ out, up to rounding (1e-10 relative). A Gram-form
/// composition meets this bar on the same sizes (<see cref="BarAttainabilityTests"/>).
/// </summary>
[TestFixture(KdBackend.Cpu)]
[TestFixture(KdBackend.Ilgpu)]
public sealed class ReferenceParityTests(KdBackend backend) : BackendFixture(backend)
{
    [TestCaseSource(typeof(OpCases), nameof(OpCases.Names))]
    public void Float64_value_and_gradient_match_the_reference(string op)
    {
        using var _ = UseBackend();
        var c = OpCases.Get(op);
        foreach (var (b, d) in ParitySizes)
        {
            using var scope = NewDisposeScope();
            var where = Label(op, $"b={b}", $"D={d}");
            var x = Inputs.Randn(c.InputShape(b, d));
            var (value, grad) = Autodiff.ValueAndGrad(c.Ours, x);
            var (refValue, refGrad) = Autodiff.ValueAndGrad(c.Reference, x);
            Assert.That(value.dtype, Is.EqualTo(ScalarType.Float64), $"{where}: dtype");
            Assert.That(value.shape, Is.EqualTo(c.OutputShape(b)), $"{where}: shape");
            Tolerances.AssertClose(value, refValue, Tolerances.Float64Parity, $"{where}: value");
            if (c.ReferenceGradientIsExact)
            {
                GradientAssert.Close(c, b, d, grad, refGrad, Tolerances.Float64Parity, where);
            }
            else
            {
                // Same maths as the reference without its 1e12-scaled round-off (OracleSanityTests).
                var (_, oracleGrad) = Autodiff.ValueAndGrad(c.Oracle, x);
                GradientAssert.Close(c, b, d, grad, oracleGrad, Tolerances.Float64Parity, where);
            }
        }
    }
}
