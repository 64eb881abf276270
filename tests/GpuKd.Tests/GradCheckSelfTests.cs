using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.autograd;

namespace GpuKd.Tests;

/// <summary>
/// The gradient checker is itself code under test: it must accept correct gradients and, above
/// all, reject wrong ones, or every gradient test built on it proves nothing.
/// </summary>
public sealed class GradCheckSelfTests
{
    /// <summary>y = x², with a backward of 2x·ḡ scaled by <c>Factor</c> (1 = correct).</summary>
    abstract class ScaledSquare<T> : SingleTensorFunction<T> where T : ScaledSquare<T>, new()
    {
        protected abstract Tensor Derivative(Tensor x);
        public override string Name => typeof(T).Name;
        public override Tensor forward(AutogradContext ctx, params object[] vars)
        {
            var x = (Tensor)vars[0];
            ctx.save_for_backward([x]);
            return x * x;
        }
        public override List<Tensor> backward(AutogradContext ctx, Tensor grad_output)
            => [Derivative(ctx.get_saved_variables()[0]) * grad_output];
    }

    sealed class CorrectSquare : ScaledSquare<CorrectSquare> { protected override Tensor Derivative(Tensor x) => 2 * x; }
    /// <summary>The classic slip: d(x²)/dx written as x.</summary>
    sealed class WrongSquare : ScaledSquare<WrongSquare> { protected override Tensor Derivative(Tensor x) => x; }
    /// <summary>Off by a relative 1e-5, ten times the tolerance: proves the check resolves small errors.</summary>
    sealed class SlightlyWrongSquare : ScaledSquare<SlightlyWrongSquare> { protected override Tensor Derivative(Tensor x) => 2 * (1 + 1e-5) * x; }

    /// <summary>Returns no gradient at all for its input.</summary>
    sealed class MissingGradSquare : SingleTensorFunction<MissingGradSquare>
    {
        public override string Name => nameof(MissingGradSquare);
        public override Tensor forward(AutogradContext ctx, params object[] vars) { var x = (Tensor)vars[0]; return x * x; }
        public override List<Tensor> backward(AutogradContext ctx, Tensor grad_output) => [null!];
    }

    static Tensor Input(params long[] shape)
    {
        using var g = new Generator(7);
        return randn(shape, ScalarType.Float64, generator: g);
    }

    [Test]
    public void Accepts_a_correct_custom_autograd_function()
    {
        using var scope = NewDisposeScope();
        var report = GradCheck.Run(xs => CorrectSquare.apply(xs[0]), [Input(3, 4)]);
        Assert.That(report.Passed, Is.True, report.Message);
        Assert.That(report.Error, Is.LessThan(1e-8), "central differences of a quadratic are exact up to round-off");
    }

    [Test]
    public void Rejects_a_wrong_custom_autograd_function_and_names_the_worst_element()
    {
        using var scope = NewDisposeScope();
        var report = GradCheck.Run(xs => WrongSquare.apply(xs[0]), [Input(3, 4)]);
        Assert.That(report.Passed, Is.False);
        Assert.That(report.Error, Is.EqualTo(0.5).Within(1e-6), "x instead of 2x is a relative error of exactly 1/2");
        Assert.That(report.Message, Does.Contain("worst element: input 0 [").And.Contain("analytic").And.Contain("numerical"));
    }

    [Test]
    public void Rejects_a_gradient_off_by_ten_times_the_tolerance()
    {
        using var scope = NewDisposeScope();
        var report = GradCheck.Run(xs => SlightlyWrongSquare.apply(xs[0]), [Input(5, 3)]);
        Assert.That(report.Passed, Is.False, report.Message);
        Assert.That(report.Error, Is.EqualTo(1e-5).Within(1e-7));
    }

    [Test]
    public void Check_fails_the_test_with_the_report_message()
    {
        // Assert.Fail inside Check cannot be caught without polluting this test's result, so the
        // assertion path is shown on a passing function and the failure path through Run above.
        using var scope = NewDisposeScope();
        Assert.That(() => GradCheck.Check("square", xs => CorrectSquare.apply(xs[0]), Input(2, 2)), Throws.Nothing);
    }

    [Test]
    public void Accepts_a_composition_of_builtin_ops_with_two_inputs()
    {
        using var scope = NewDisposeScope();
        var report = GradCheck.Run(xs => (xs[0].sin() * xs[1]).mm(xs[1].t()).exp(), [Input(3, 4), Input(3, 4) + 1]);
        Assert.That(report.Passed, Is.True, report.Message);
    }

    [Test]
    public void Rejects_a_wrong_gradient_in_the_second_input_only()
    {
        using var scope = NewDisposeScope();
        var report = GradCheck.Run(xs => xs[0] * WrongSquare.apply(xs[1]), [Input(2, 3), Input(2, 3)]);
        Assert.That(report.Passed, Is.False);
        Assert.That(report.Message, Does.Contain("worst element: input 1 ["));
    }

    [Test]
    public void Rejects_a_missing_gradient()
    {
        using var scope = NewDisposeScope();
        var report = GradCheck.Run(xs => MissingGradSquare.apply(xs[0]), [Input(2, 3)]);
        Assert.That(report.Passed, Is.False);
        Assert.That(report.Message, Does.Contain("received no gradient"));
    }

    [Test]
    public void Rejects_an_output_without_a_graph()
    {
        using var scope = NewDisposeScope();
        var report = GradCheck.Run(xs => xs[0].detach() * 2, [Input(2, 3)]);
        Assert.That(report.Passed, Is.False);
        Assert.That(report.Message, Does.Contain("does not require grad"));
    }

    [Test]
    public void Rejects_a_function_that_modifies_its_input_in_place()
    {
        using var scope = NewDisposeScope();
        var report = GradCheck.Run(xs =>
        {
            using (no_grad()) xs[0].mul_(1.5);
            return xs[0] * xs[0];
        }, [Input(2, 3)]);
        Assert.That(report.Passed, Is.False);
        Assert.That(report.Message, Does.Contain("in place"));
    }

    [Test]
    public void An_input_that_does_not_require_grad_gets_no_gradient()
    {
        using var scope = NewDisposeScope();
        var report = GradCheck.Run(xs => xs[0] * xs[1], [Input(2, 3), Input(2, 3)], requiresGrad: [true, false]);
        Assert.That(report.Passed, Is.True, report.Message);
    }

    [Test]
    public void Rejects_a_function_that_turns_on_requires_grad_of_an_input()
    {
        using var scope = NewDisposeScope();
        var report = GradCheck.Run(xs => xs[0] * xs[1].requires_grad_(true), [Input(2, 3), Input(2, 3)], requiresGrad: [true, false]);
        Assert.That(report.Passed, Is.False);
        Assert.That(report.Message, Does.Contain("input 1 does not require grad"));
    }

    [Test]
    public void Rejects_an_output_that_requires_grad_when_no_input_does()
    {
        using var scope = NewDisposeScope();
        var report = GradCheck.Run(xs => xs[0] * xs[0] + zeros(xs[0].shape, ScalarType.Float64).requires_grad_(true), [Input(2, 3)]);
        Assert.That(report.Passed, Is.False);
        Assert.That(report.Message, Does.Contain("no input does"));
    }

    [Test]
    public void A_zero_gradient_is_compared_absolutely()
    {
        // d/dx of a constant is 0; the relative error would be 0/0.
        using var scope = NewDisposeScope();
        var report = GradCheck.Run(xs => xs[0] * 0 + 1, [Input(2, 3)]);
        Assert.That(report.Passed, Is.True, report.Message);
    }

    [Test]
    public void Refuses_float32_inputs()
    {
        using var scope = NewDisposeScope();
        Assert.That(() => GradCheck.Run(xs => xs[0] * xs[0], [Input(2, 2).to(ScalarType.Float32)]),
                    Throws.InstanceOf<ArgumentException>());
    }
}
