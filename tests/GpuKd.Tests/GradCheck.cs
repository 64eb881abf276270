using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Tests;

/// <summary>What <see cref="GradCheck.Run"/> found; <see cref="Message"/> names the worst element on failure.</summary>
public sealed record GradCheckReport(bool Passed, double Error, string Message);

/// <summary>
/// Float64 central-difference gradient checker (TorchSharp has no <c>gradcheck</c>).
/// The output is reduced with a fixed random weight tensor, L = Σ W ⊙ f(x), so one backward
/// gives the vector-Jacobian product Wᵀ J, and every element of every input is compared with
/// (L(x + h e_j) − L(x − h e_j)) / 2h. A random W (not ones) makes errors in single output
/// entries, or transposed gradient blocks, visible instead of cancelling in a plain sum.
/// </summary>
public static class GradCheck
{
    /// <summary>h: truncation error O(h²) ≈ 1e-12 and round-off O(ε/h) ≈ 1e-10, both far below the tolerance.</summary>
    public const double Step = 1e-6;

    /// <summary>
    /// Numerical gradient norms below this are compared absolutely (‖Δ‖ ≤ tolerance × floor): a gradient that is
    /// mathematically 0 (b = 1, or cosines of 1-D features) is only known to round-off.
    /// </summary>
    public const double GradientFloor = 1e-2;

    /// <summary>Runs <see cref="Run"/> on inputs that all require grad and fails the test if it does not pass.</summary>
    public static void Check(Func<Tensor[], Tensor> f, params Tensor[] inputs) => Check("", f, inputs);

    /// <inheritdoc cref="Check(Func{Tensor[], Tensor}, Tensor[])"/>
    public static void Check(string label, Func<Tensor[], Tensor> f, params Tensor[] inputs)
    {
        var report = Run(f, inputs);
        if (!report.Passed) NUnit.Framework.Assert.Fail($"{label}: {report.Message}");
    }

    /// <summary>
    /// Checks f's analytic gradient against central differences. <paramref name="inputs"/> must be
    /// float64; they are cloned (f never sees the caller's tensors), and clone i requires grad iff
    /// <paramref name="requiresGrad"/>[i] (default: all). Besides the comparison it fails when:
    /// the output has no graph although an input requires grad; an input that requires grad gets no
    /// gradient, or one that does not gets one; f modifies an input in place; the output requires
    /// grad when no input does (a gradient nobody asked for).
    /// </summary>
    public static GradCheckReport Run(Func<Tensor[], Tensor> f, Tensor[] inputs, bool[]? requiresGrad = null,
                                      double step = Step, double tolerance = Tolerances.GradCheck, int seed = 20261128)
    {
        if (inputs.Length == 0) throw new ArgumentException("Nothing to check.", nameof(inputs));
        for (int i = 0; i < inputs.Length; i++)
            if (inputs[i].dtype != ScalarType.Float64)
                throw new ArgumentException($"Input {i} is {inputs[i].dtype}; gradient checks run in float64.", nameof(inputs));
        var rg = requiresGrad ?? Enumerable.Repeat(true, inputs.Length).ToArray();
        if (rg.Length != inputs.Length || !rg.Any(r => r))
            throw new ArgumentException("One flag per input, at least one true.", nameof(requiresGrad));

        using var scope = NewDisposeScope();
        var originals = inputs.Select(x => x.detach().contiguous().clone()).ToArray();
        var leaves = originals.Select((x, i) => x.clone().requires_grad_(rg[i])).ToArray();

        // Analytic: one backward of L = Σ W ⊙ f(x).
        var output = f(leaves);
        if (output.dtype != ScalarType.Float64) return Fail($"output is {output.dtype}, expected Float64");
        if (!output.requires_grad) return Fail("the output does not require grad although an input does (no autograd graph)");
        using var generator = new Generator((ulong)seed);
        var w = randn(output.shape, ScalarType.Float64, generator: generator);
        (output * w).sum().backward();

        var analytic = new Tensor[inputs.Length];
        for (int i = 0; i < inputs.Length; i++)
        {
            if (!Tolerances.Identical(leaves[i].detach(), originals[i]))
                return Fail($"f modified input {i} in place");
            var g = leaves[i].grad;
            if (!rg[i])
            {
                if (leaves[i].requires_grad || g is not null)
                    return Fail($"input {i} does not require grad but {(g is not null ? "received a gradient" : "was made to require one")}");
                continue;
            }
            if (g is null) return Fail($"input {i} requires grad but received no gradient");
            if (!g.isfinite().all().item<bool>()) return Fail($"the analytic gradient of input {i} is not finite");
            analytic[i] = g.detach().reshape(-1);
        }

        // Numerical: perturb one element at a time, in no-grad mode (no graph is needed).
        var numeric = new Tensor[inputs.Length];
        using (no_grad())
        {
            for (int i = 0; i < inputs.Length; i++)
            {
                if (!rg[i]) continue;
                var probe = originals[i].clone();
                var flat = probe.view(-1);
                var x0 = flat.data<double>().ToArray();
                var args = (Tensor[])originals.Clone();
                args[i] = probe;
                var d = new double[x0.Length];
                for (int j = 0; j < x0.Length; j++)
                {
                    using var inner = NewDisposeScope();
                    flat[j].fill_(x0[j] + step);
                    var plus = f(args).to(ScalarType.Float64);
                    flat[j].fill_(x0[j] - step);
                    var minus = f(args).to(ScalarType.Float64);
                    flat[j].fill_(x0[j]);
                    // Difference per output entry before weighting: less cancellation than L(+) − L(−).
                    d[j] = ((plus - minus) * w).sum().item<double>() / (2 * step);
                }
                numeric[i] = torch.tensor(d, ScalarType.Float64);
            }
        }

        var checkedInputs = Enumerable.Range(0, inputs.Length).Where(i => rg[i]).ToArray();
        var a = cat(checkedInputs.Select(i => analytic[i]).ToArray());
        var n = cat(checkedInputs.Select(i => numeric[i]).ToArray());
        // The numerical gradient is the reference: an analytic gradient that is wrongly 0 is then a 100% error.
        var gNorm = Tolerances.Norm(n);
        var error = Tolerances.Norm(a - n) / Math.Max(gNorm, GradientFloor);
        if (!(error <= tolerance))
        {
            var worst = (a - n).abs().argmax().item<long>();
            var (input, index) = Locate(worst, checkedInputs, originals);
            return new GradCheckReport(false, error,
                $"gradient check failed: ‖Δ‖/max(‖g_numerical‖, {GradientFloor:G}) = {error:E3} > {tolerance:E1} (‖g_numerical‖ = {gNorm:E3}); " +
                $"worst element: input {input} [{string.Join(", ", index)}], analytic {a[worst].item<double>():R} vs numerical {n[worst].item<double>():R}");
        }

        // With nothing requiring grad the op must not build a graph.
        var plain = f(originals);
        if (plain.requires_grad) return Fail("the output requires grad although no input does");

        return new GradCheckReport(true, error, $"passed: relative error {error:E3} (‖g‖ = {gNorm:E3})");

        GradCheckReport Fail(string why) => new(false, double.NaN, why);
    }

    /// <summary>Maps a position in the concatenated gradients back to (input, multi-index).</summary>
    static (int Input, long[] Index) Locate(long flat, int[] checkedInputs, Tensor[] originals)
    {
        foreach (var i in checkedInputs)
        {
            var shape = originals[i].shape;
            var count = originals[i].numel();
            if (flat < count)
            {
                var index = new long[shape.Length];
                for (int k = shape.Length - 1; k >= 0; k--) { index[k] = flat % shape[k]; flat /= shape[k]; }
                return (i, index);
            }
            flat -= count;
        }
        throw new ArgumentOutOfRangeException(nameof(flat));
    }
}
