using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Tests;

/// <summary>
/// Shared checks of issue 16's two-input losses (ICKD, NST, PKT, DIST, FSP): value and both inputs' gradients
/// against a float64 oracle (the published composition), with an upstream gradient ≠ 1 so that its scaling is
/// checked too.
/// </summary>
public static class ChannelLossHarness
{
    /// <summary>Upstream gradient of the scalar loss in every comparison (≠ 1: a missing upstream scale fails).</summary>
    public const double Upstream = 1.7;

    /// <summary>Value and the gradient of each input (all require grad) of upstream · f(inputs).</summary>
    public static (Tensor Value, Tensor[] Grads) Run(Func<Tensor[], Tensor> f, params Tensor[] inputs)
    {
        var leaves = inputs.Select(x => x.detach().clone().requires_grad_(true)).ToArray();
        var value = f(leaves);
        Assert.That(value.shape, Is.Empty, "a 0-d loss");
        (value * Upstream).backward();
        return (value.detach(), leaves.Select(l => l.grad ?? throw new AssertionException("no gradient for an input")).ToArray());
    }

    /// <summary>f (on the inputs' dtype) against the oracle on the same values in float64: value and every gradient
    /// within <paramref name="tolerance"/> (norm-wise relative; gradients below <paramref name="floor"/> absolute).</summary>
    public static void AssertMatches(string what, Func<Tensor[], Tensor> f, Func<Tensor[], Tensor> oracle, Tensor[] inputs, double tolerance,
        double floor = 1e-12, Func<Tensor[], Tensor>? gradientOracle = null)
    {
        using var scope = NewDisposeScope();
        var (v, g) = Run(f, inputs);
        var x64 = inputs.Select(Inputs.Exact64).ToArray();
        var (rv, _) = Run(oracle, x64);
        var (_, rg) = Run(gradientOracle ?? oracle, x64);
        Assert.That(v.dtype, Is.EqualTo(inputs[0].dtype), $"{what}: dtype of the value");
        Tolerances.AssertClose(v, rv, tolerance, $"{what}: value", floor);
        for (int k = 0; k < g.Length; k++)
        {
            Assert.That(g[k].shape, Is.EqualTo(inputs[k].shape), $"{what}: gradient {k} shape");
            Tolerances.AssertClose(g[k], rg[k], tolerance, $"{what}: gradient of input {k}", floor);
        }
    }

    /// <summary>
    /// float32 where the published float32 composition itself cancels (student ≈ teacher: a KL or an MMD of nearly equal
    /// relations): f's value and gradients against the float64 oracle must be within the float32 bar or twice the
    /// published float32 code's own error on the same inputs, whichever is larger.
    /// </summary>
    public static void AssertNoWorseThanPublishedFloat32(string what, Func<Tensor[], Tensor> f, Func<Tensor[], Tensor> oracle, Tensor[] inputs32)
    {
        using var scope = NewDisposeScope();
        var (v, g) = Run(f, inputs32);
        var (v32, g32) = Run(oracle, inputs32);
        var (v64, g64) = Run(oracle, inputs32.Select(Inputs.Exact64).ToArray());
        var rows = new List<(string, Tensor, Tensor, Tensor)> { ("value", v, v32, v64) };
        for (int k = 0; k < g.Length; k++) rows.Add(($"gradient {k}", g[k], g32[k], g64[k]));
        foreach (var (name, got, pub, want) in rows)
        {
            double err = Tolerances.RelErr(got, want), published = Tolerances.RelErr(pub, want);
            Assert.That(err, Is.LessThanOrEqualTo(Math.Max(Tolerances.Float32Bar, 2 * published)),
                        $"{what}, {name}: GpuKd {err:E2}, published float32 {published:E2} (vs float64)");
        }
    }
}
