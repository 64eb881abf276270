using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Tests;

/// <summary>
/// NaN / ±Inf in the input (DESIGN §6): by default they propagate — the value or the gradient
/// holds a non-finite entry, a finite wrong answer is never acceptable; with
/// <see cref="gpukd.check_inputs"/> on, the op throws an <see cref="ArgumentException"/> naming "x".
/// The setting is process-wide, so each test restores it.
/// </summary>
[TestFixture(KdBackend.Cpu)]
[TestFixture(KdBackend.Ilgpu)]
public sealed class NonFiniteInputTests(KdBackend backend) : BackendFixture(backend)
{
    static readonly double[] Poison = [double.NaN, double.PositiveInfinity, double.NegativeInfinity];

    Tensor Poisoned(OpCase c, double value, ScalarType dtype)
    {
        var (b, d) = TypicalSize;
        var x = Inputs.Randn(c.InputShape(b, d), dtype);
        // One element of row 1 (of item 0 when batched).
        return c.Batched ? Inputs.WithValueAt(x, value, 0, 1, 2) : Inputs.WithValueAt(x, value, 1, 2);
    }

    [TestCaseSource(typeof(OpCases), nameof(OpCases.Names))]
    public void By_default_non_finite_input_gives_a_non_finite_value_or_gradient(string op)
    {
        using var _ = UseBackend();
        var c = OpCases.Get(op);
        var saved = gpukd.check_inputs;
        try
        {
            gpukd.check_inputs = false;
            foreach (var dtype in new[] { ScalarType.Float32, ScalarType.Float64 })
            foreach (var poison in Poison)
            {
                using var scope = NewDisposeScope();
                var (value, grad) = Autodiff.ValueAndGrad(c.Ours, Poisoned(c, poison, dtype));
                Assert.That(Tolerances.AllFinite(value) && Tolerances.AllFinite(grad), Is.False,
                            $"{Label(op, dtype, poison)}: all finite, a silent wrong answer");
            }
        }
        finally { gpukd.check_inputs = saved; }
    }

    [TestCaseSource(typeof(OpCases), nameof(OpCases.Names))]
    public void With_check_inputs_non_finite_input_throws_naming_x(string op)
    {
        using var _ = UseBackend();
        var c = OpCases.Get(op);
        var saved = gpukd.check_inputs;
        try
        {
            gpukd.check_inputs = true;
            foreach (var dtype in new[] { ScalarType.Float32, ScalarType.Float64 })
            foreach (var poison in Poison)
            {
                using var scope = NewDisposeScope();
                var x = Poisoned(c, poison, dtype);
                Assert.That(() => c.Ours(x),
                            Throws.InstanceOf<ArgumentException>().With.Property(nameof(ArgumentException.ParamName)).EqualTo("x"),
                            Label(op, dtype, poison));
            }
            // The check must not reject finite input.
            using var finiteScope = NewDisposeScope();
            var (b, d) = TypicalSize;
            Assert.That(() => c.Ours(Inputs.Randn(c.InputShape(b, d))), Throws.Nothing, Label(op, "finite input in check mode"));
        }
        finally { gpukd.check_inputs = saved; }
    }
}
