using static TorchSharp.torch;

namespace GpuKd.Tests;

/// <summary>Helpers of the structured-KD tests: a loss value and each input's gradient, from the fused op or the oracle.</summary>
public static class SkdCases
{
    /// <summary>f(s, t) and its gradients w.r.t. clones of s and t that require grad.</summary>
    public static (Tensor Value, Tensor GradS, Tensor GradT) ValueAndGrads(Func<Tensor, Tensor, Tensor> f, Tensor s, Tensor t)
    {
        var sl = s.detach().clone().requires_grad_(true);
        var tl = t.detach().clone().requires_grad_(true);
        var value = f(sl, tl);
        value.backward();
        return (value.detach(), sl.grad!.detach().clone(), tl.grad!.detach().clone());
    }

    /// <summary>Asserts value and both gradients of <paramref name="actual"/> against <paramref name="expected"/>.</summary>
    public static void AssertSame((Tensor Value, Tensor GradS, Tensor GradT) actual, (Tensor Value, Tensor GradS, Tensor GradT) expected,
                                  double tolerance, string what, double floor = Tolerances.Tiny)
    {
        Tolerances.AssertClose(actual.Value, expected.Value, tolerance, what + " value", floor);
        Tolerances.AssertClose(actual.GradS, expected.GradS, tolerance, what + " student gradient", floor);
        Tolerances.AssertClose(actual.GradT, expected.GradT, tolerance, what + " teacher gradient", floor);
    }

    /// <summary>Norm below which float64 parity is judged absolutely (‖Δ‖ ≤ tolerance × floor): on a 1×1 map both
    /// relations are 1 and the loss and gradients are 0 up to the 1e-8 norm offset; the forced Gram form knows them
    /// only to its round-off (~1e-16 of its O(1) terms).</summary>
    public const double ParityFloor = 1e-4;

    /// <summary>A student of 2·C channels whose node similarities equal the teacher's ([t, t]/√2 per node) plus
    /// <paramref name="relative"/> noise: student ≈ teacher with Cs ≠ Ct.</summary>
    public static Tensor NearStudent(Tensor teacher, double relative, int salt = 7)
    {
        var doubled = cat([teacher, teacher], 1).to(ScalarType.Float64) / Math.Sqrt(2);
        return Inputs.Perturbed(doubled, relative, salt).to(teacher.dtype);
    }
}
