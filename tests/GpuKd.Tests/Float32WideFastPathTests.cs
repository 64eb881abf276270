using GpuKd.Device;
using GpuKd.Kernels.Cpu;
using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Tests;

/// <summary>
/// The fused float32 widened passes (<see cref="CpuWideGram"/>, <see cref="CpuCc.WideBackward"/>; the CPU fast path of CC's
/// float32 kernels and of SP's widened Grams) at the sizes where SIMD loops have ragged tails and degenerate shapes:
/// b = 1, 2, 3, odd b, D = 1, 5, 13 (no full float32 lane), 37; duplicates, an exactly zero row, huge and tiny rows, a large
/// shared offset. Value and both gradients against the float64 oracle of the published formula (1e-4 bar), NaN gives
/// non-finite results, and the passes give the same bits on one or two threads. Both fixtures: the ILGPU programs compute
/// the same maths and must meet the same bars.
/// </summary>
[TestFixture(KdBackend.Cpu)]
[TestFixture(KdBackend.Ilgpu)]
public sealed class Float32WideFastPathTests(KdBackend backend) : BackendFixture(backend)
{
    static readonly (string Name, Func<Tensor, Tensor, Tensor> Ours, Func<Tensor, Tensor, Tensor> Oracle)[] Losses =
    [
        ("cc_loss Taylor", (s, t) => gpukd.functional.cc_loss(s, t), (s, t) => LossOracles.Cc(s, t, CcKernel.TaylorRbf, 0.4, 2)),
        ("cc_loss Taylor order 5", (s, t) => gpukd.functional.cc_loss(s, t, gamma: 1.3, order: 5), (s, t) => LossOracles.Cc(s, t, CcKernel.TaylorRbf, 1.3, 5)),
        ("cc_loss RBF", (s, t) => gpukd.functional.cc_loss(s, t, CcKernel.Rbf), (s, t) => LossOracles.Cc(s, t, CcKernel.Rbf, 0.4, 2)),
        ("cc_loss bilinear", (s, t) => gpukd.functional.cc_loss(s, t, CcKernel.Bilinear), (s, t) => LossOracles.Cc(s, t, CcKernel.Bilinear, 0.4, 2)),
        ("sp_loss", (s, t) => gpukd.functional.sp_loss(s, t), LossOracles.Sp),
    ];

    public static IEnumerable<string> Names => Losses.Select(l => l.Name);

    /// <summary>(label, student, teacher): float32, drawn in float64 and rounded, so the oracle sees the same numbers.</summary>
    static IEnumerable<(string Label, Tensor S, Tensor T)> Cases()
    {
        foreach (var (b, d) in new[] { (1, 5), (2, 1), (2, 13), (3, 37), (9, 5), (17, 13), (33, 37) })
        {
            yield return ($"b={b} D={d} random", Inputs.Randn([b, d], ScalarType.Float32, salt: 61), Inputs.Randn([b, d + 3], ScalarType.Float32, salt: 62));
            yield return ($"b={b} D={d} offset 100", Inputs.Offset([b, d], ScalarType.Float32, salt: 63), Inputs.Offset([b, d + 3], ScalarType.Float32, salt: 64));
        }
        var x = Inputs.Randn([13, 13], ScalarType.Float32, salt: 65);
        yield return ("b=13 D=13 duplicate rows 4 = 7", Inputs.WithDuplicateRow(x, 4, 7), Inputs.Randn([13, 9], ScalarType.Float32, salt: 66));
        yield return ("b=13 D=13 zero rows (student 3, teacher 0)", Inputs.WithZeroRow(x, 3), Inputs.WithZeroRow(Inputs.Randn([13, 9], ScalarType.Float32, salt: 67), 0));
        // Rows of very different norms (1e-6 … 1e6 in one batch): both paths centre only rows dominated by a shared offset
        // (the CPU path's OpBase.NeedsWidening, the programs' device-side WideKernels.OffsetGate); centring these would round
        // the 1e-6 rows away (CC's value was Inf). Whole batches far from 1 (no no_grad scope here: the caller's autograd
        // runs while this iterator is suspended).
        var scales = pow(10.0, linspace(-6, 6, 11, dtype: ScalarType.Float64)).unsqueeze(1);
        yield return ("b=11 D=37 row norms 1e-6..1e6", (Inputs.Randn([11, 37], salt: 68) * scales).to(ScalarType.Float32), Inputs.Randn([11, 5], ScalarType.Float32, salt: 69));
        yield return ("b=9 D=13 huge 1e30", (Inputs.Randn([9, 13], salt: 70) * 1e30).to(ScalarType.Float32), Inputs.Randn([9, 13], ScalarType.Float32, salt: 71));
        // Tiny rows, norms above the eps clamp (1e-30 rows sit below it and underflow a float32 Gram: not scale-free there).
        yield return ("b=9 D=13 tiny 1e-8", (Inputs.Randn([9, 13], salt: 72) * 1e-8).to(ScalarType.Float32), Inputs.Randn([9, 13], ScalarType.Float32, salt: 73));
    }

    /// <summary>Norm-wise errors, floored at 1e-8 (a loss or gradient that is exactly 0, as at b = 1 or D = 1, is then held to
    /// 1e-12 absolute).</summary>
    [TestCaseSource(nameof(Names))]
    public void Float32_value_and_both_gradients_meet_the_bar(string name)
    {
        using var _ = UseBackend();
        var (_, ours, oracle) = Losses.Single(l => l.Name == name);
        foreach (var (label, s, t) in Cases())
        {
            using var scope = NewDisposeScope();
            string at = Label(name, label, "float32");
            var (v, gs, gt) = PairAutodiff.Run(ours, s, t);
            var (v64, gs64, gt64) = PairAutodiff.Run(oracle, Inputs.Exact64(s), Inputs.Exact64(t));
            Tolerances.AssertClose(v, v64, Tolerances.Float32Bar, $"{at}: value", floor: 1e-8);
            Tolerances.AssertClose(gs!, gs64!, Tolerances.Float32Bar, $"{at}: student gradient", floor: 1e-8);
            Tolerances.AssertClose(gt!, gt64!, Tolerances.Float32Bar, $"{at}: teacher gradient", floor: 1e-8);
        }
    }

    [TestCaseSource(nameof(Names))]
    public void Float32_nan_or_inf_gives_a_non_finite_value_and_gradient(string name)
    {
        using var _ = UseBackend();
        var (_, ours, _) = Losses.Single(l => l.Name == name);
        foreach (double poison in new[] { double.NaN, double.PositiveInfinity, double.NegativeInfinity })
            foreach (var (b, d) in new[] { (3, 5), (17, 37) })
            {
                using var scope = NewDisposeScope();
                var s = Inputs.WithValueAt(Inputs.Randn([b, d], ScalarType.Float32, salt: 74), poison, 1, d - 1);
                var t = Inputs.Randn([b, d], ScalarType.Float32, salt: 75);
                var (v, gs, _) = PairAutodiff.Run(ours, s, t, true, false);
                string at = Label(name, $"b={b} D={d}", $"student[1, {d - 1}] = {poison}", "float32");
                Assert.That(Tolerances.AllFinite(v), Is.False, $"{at}: value");
                Assert.That(Tolerances.AllFinite(gs!), Is.False, $"{at}: student gradient");
            }
    }

    /// <summary>The fused passes split rows over threads, each row with one owner and a fixed order: the same bits on one
    /// thread as on two (forced: at test sizes the loops would otherwise run on the calling thread).</summary>
    [TestCaseSource(nameof(Names))]
    public void Float32_results_are_the_same_bits_on_one_and_two_threads(string name)
    {
        using var _ = UseBackend();
        var (_, ours, _) = Losses.Single(l => l.Name == name);
        using var scope = NewDisposeScope();
        var s = Inputs.Offset([67, 37], ScalarType.Float32, salt: 76);
        var t = Inputs.Randn([67, 41], ScalarType.Float32, salt: 77);
        (Tensor, Tensor?, Tensor?) one, two;
        using (CpuParallel.Force(1)) one = PairAutodiff.Run(ours, s, t);
        using (CpuParallel.Force(2)) two = PairAutodiff.Run(ours, s, t);
        string at = Label(name, "b=67 D=37 offset 100", "float32");
        Assert.That(Tolerances.Identical(one.Item1, two.Item1), $"{at}: value");
        Assert.That(Tolerances.Identical(one.Item2!, two.Item2!), $"{at}: student gradient");
        Assert.That(Tolerances.Identical(one.Item3!, two.Item3!), $"{at}: teacher gradient");
    }
}
