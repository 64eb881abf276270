using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Tests;

/// <summary>
/// How a float32 computation is judged (DESIGN §5): against the float64 oracle evaluated on the
/// very same numbers (the float32 input widened exactly), value and gradient by norm-wise relative
/// error, with the same weights W for the gradient.
/// </summary>
public static class Float32Comparison
{
    public readonly record struct Errors(double Value, double Grad);

    /// <summary>RelErr of f(x32) and its gradient against oracle(x64) and its gradient.</summary>
    public static Errors Measure(Func<Tensor, Tensor> f, Func<Tensor, Tensor> oracle, Tensor x32)
    {
        using var scope = NewDisposeScope();
        var x64 = Inputs.Exact64(x32);
        var (v64, g64) = Autodiff.ValueAndGrad(oracle, x64);
        var w = Autodiff.Weights(v64.shape, ScalarType.Float64);
        var (v32, g32) = Autodiff.ValueAndGrad(f, x32, w.to(ScalarType.Float32));
        if (v32.dtype != ScalarType.Float32 || g32.dtype != ScalarType.Float32)
            throw new InvalidOperationException($"float32 in, {v32.dtype} value / {g32.dtype} gradient out");
        return new(Tolerances.RelErr(v32, v64), Tolerances.RelErr(g32, g64));
    }

    /// <summary>
    /// Widest features the 1%-difference bar is applied to: at D = 1000 even the plain float32
    /// reference compositions reach 1–3e-4 there (accumulation error over D against a difference
    /// 100× smaller than the values); see <see cref="BarAttainabilityTests"/>.
    /// </summary>
    public const int MaxDifferenceD = 33;

    /// <summary>
    /// The student ≈ teacher case for a relation: f(x₂) − f(x₁) with x₂ a 1% perturbation of x₁,
    /// a small difference of large values, against the same difference of the float64 oracle.
    /// </summary>
    public static double DifferenceError(Func<Tensor, Tensor> f, Func<Tensor, Tensor> oracle, Tensor x1, Tensor x2)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var ours = f(x2) - f(x1);
        var exact = oracle(Inputs.Exact64(x2)) - oracle(Inputs.Exact64(x1));
        return Tolerances.RelErr(ours, exact);
    }
}
