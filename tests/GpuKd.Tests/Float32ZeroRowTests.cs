using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Tests;

/// <summary>
/// float32 rows with an exactly zero row (a dead ReLU sample) through the losses whose float32 Gram is widened
/// (G = XcXcᵀ + m1ᵀ + 1mᵀ + |μ|² from centred rows): the published code's G row of a zero sample is exactly 0, so its
/// normalised row is 0; a reconstructed G row of rounding noise (~1e-8) would be normalised into O(1) garbage (SP) or
/// divided by its √noise norm (CC: a loss of 1e16). Found by the in-process dry run (bench/gpu/inprocess.py --device
/// cpu, zero_row float32). Value and student gradient against the degenerate-aware float64 oracle, 1e-4 bar.
/// </summary>
[TestFixture(KdBackend.Cpu)]
[TestFixture(KdBackend.Ilgpu)]
public sealed class Float32ZeroRowTests(KdBackend backend) : BackendFixture(backend)
{
    static readonly (string Name, Func<Tensor, Tensor, Tensor> Ours, Func<Tensor, Tensor, Tensor> Oracle)[] Losses =
    [
        ("sp_loss", (s, t) => gpukd.functional.sp_loss(s, t), LossOracles.Sp),
        ("cc_loss Taylor", (s, t) => gpukd.functional.cc_loss(s, t), (s, t) => LossOracles.Cc(s, t, CcKernel.TaylorRbf, 0.4, 2)),
        ("cc_loss RBF", (s, t) => gpukd.functional.cc_loss(s, t, CcKernel.Rbf), (s, t) => LossOracles.Cc(s, t, CcKernel.Rbf, 0.4, 2)),
        ("cc_loss bilinear", (s, t) => gpukd.functional.cc_loss(s, t, CcKernel.Bilinear), (s, t) => LossOracles.Cc(s, t, CcKernel.Bilinear, 0.4, 2)),
    ];

    public static IEnumerable<string> Names => Losses.Select(l => l.Name);

    [TestCaseSource(nameof(Names))]
    public void Zero_row_in_float32_meets_the_bar(string name)
    {
        using var _ = UseBackend();
        var (_, ours, oracle) = Losses.Single(l => l.Name == name);
        foreach (var (b, d, offset) in new[] { (17, 9, 0.0), (5, 33, 0.0), (9, 17, 3.0) })
        {
            using var scope = NewDisposeScope();
            // offset 3: rows dominated by a shared offset, where SP's CPU path widens too; the zero row is then far from the mean
            var s = Inputs.WithZeroRow((Inputs.Randn([b, d], salt: 41) + offset).to(ScalarType.Float32), 2);
            var t = Inputs.WithZeroRow(Inputs.Randn([b, d + 4], ScalarType.Float32, salt: 42), 0);
            string at = Label(name, $"b={b}", $"D={d}", $"offset {offset}", "float32, student row 2 and teacher row 0 zero");
            var (v, gs, _) = PairAutodiff.Run(ours, s, t, true, false);
            var (v64, gs64, _) = PairAutodiff.Run(oracle, Inputs.Exact64(s), Inputs.Exact64(t), true, false);
            Tolerances.AssertClose(v, v64, Tolerances.Float32Bar, $"{at}: value");
            Tolerances.AssertClose(gs!, gs64!, Tolerances.Float32Bar, $"{at}: student gradient");
        }
    }

    /// <summary>Rows of width 1 (each unit row is ±1, so every normalised kernel's gradient is exactly 0): the widened
    /// backward's float32 product left a radial residue (CC Taylor 5e-4 at b = 33; the published float32 code ~1e-8);
    /// the gradient is now projected onto each row's tangent space. Held to 1e-7 of the upstream scale.</summary>
    [TestCase(CcKernel.TaylorRbf)]
    [TestCase(CcKernel.Rbf)]
    [TestCase(CcKernel.Bilinear)]
    public void One_dimensional_rows_in_float32_get_a_zero_cc_gradient(CcKernel kernel)
    {
        using var _ = UseBackend();
        foreach (var b in new[] { 5, 33, 257 })
        {
            using var scope = NewDisposeScope();
            var s = Inputs.Randn([b, 1], ScalarType.Float32, salt: 43).requires_grad_();
            var t = Inputs.Randn([b, 1], ScalarType.Float32, salt: 44);
            gpukd.functional.cc_loss(s, t, kernel).backward();
            double worst = s.grad!.abs().max().item<float>();
            Assert.That(worst, Is.LessThanOrEqualTo(1e-7), Label($"cc_loss {kernel}", $"b={b}", "D=1", "float32: exact gradient 0"));
        }
    }
}
