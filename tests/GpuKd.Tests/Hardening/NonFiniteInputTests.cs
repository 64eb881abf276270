using GpuKd.Kernels.Maths;
using System.Numerics;
using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;
using static GpuKd.Tests.OpRunner;

namespace GpuKd.Tests;

/// <summary>
/// NaN, +Inf and −Inf in any input give a non-finite result, in every public op (<see cref="PublicOps"/>, plus the
/// list-taking losses below), for every tensor argument, at several positions: the first element, the last, one in
/// the middle of a row, and one that pooling averages or max-pools together with its neighbours ([b, C, H, W]
/// arguments). The value itself must be non-finite — a finite value with a NaN gradient is still a silent wrong
/// answer to whoever reads the loss — except where the published maths defines a finite answer for −∞, and then it
/// must be that answer (<see cref="PublicOp.NegativeInfinityReference"/>: a structured-KD feature that max pooling
/// drops, a logit whose class has probability 0). In check mode each is an <see cref="ArgumentException"/> naming the
/// argument. Both backends; ILGPU (the CPU simulator) in float32 only, to keep the run short.
/// </summary>
[TestFixture(KdBackend.Cpu)]
[TestFixture(KdBackend.Ilgpu)]
public sealed class NonFiniteInputTests(KdBackend backend) : BackendFixture(backend)
{
    const int B = 4;

    /// <summary>Where the poisoned element sits.</summary>
    public enum At
    {
        /// <summary>Sample 0, element 0 (the first of the tensor).</summary>
        First,
        /// <summary>The last sample's last element.</summary>
        Last,
        /// <summary>Sample 1, the middle element of its flattened row.</summary>
        MidRow,
        /// <summary>Sample 1, channel 0, (h, w) = (1, 1) of a [b, C, H, W] map: inside a 2×2 pooling window, not its first
        /// element (averaged away by the IRG transformation's pooling, max-pooled by structured KD's).</summary>
        PooledAway,
    }

    static readonly double[] Poison = [double.NaN, double.PositiveInfinity, double.NegativeInfinity];

    /// <summary>The public losses over layer lists, flattened into one tensor list (argument names: the list's).</summary>
    static readonly PublicOp[] ListOps =
    [
        // KD-Zoo's IRG port: [fm1, fm2, feat] + logits, one transition fm1 → fm2 (5×5 → 2×2 pooling, channel folding).
        new("irg_loss_published", ["student_layers", "student_layers", "student_layers", "teacher_layers", "teacher_layers", "teacher_layers",
                                   "student_logits", "teacher_logits"],
            xs => gpukd.functional.irg_loss([xs[0], xs[1], xs[2]], [xs[3], xs[4], xs[5]], xs[6], xs[7], transitions: [(0, 1)]),
            b => [[b, 3, 5, 5], [b, 6, 2, 2], [b, 7], [b, 4, 5, 5], [b, 8, 2, 2], [b, 9], [b, 5], [b, 5]]),
        // Consecutive transitions, one-to-many edges.
        new("irg_loss_one_to_many", ["student_layers", "student_layers", "teacher_layers", "teacher_layers"],
            xs => gpukd.functional.irg_loss([xs[0], xs[1]], [xs[2], xs[3]], pairing: IrgPairing.OneToMany),
            b => [[b, 2, 4, 4], [b, 4, 2, 2], [b, 3, 4, 4], [b, 3, 2, 2]]),
        new("sp_loss_layers", ["students", "students", "teachers", "teachers"],
            xs => gpukd.functional.sp_loss([xs[0], xs[1]], [xs[2], xs[3]], [2.0, 0.5]),
            b => [[b, 2, 3, 3], [b, 5], [b, 3, 3, 3], [b, 4]]),
    ];

    static PublicOp Get(string name) => ListOps.FirstOrDefault(o => o.Name == name) ?? PublicOps.Get(name);

    /// <summary>(sample, element of its flattened row) for a position, or null where it does not apply.</summary>
    static (long Sample, long Element)? Locate(long[] shape, At at)
    {
        long row = shape.Skip(1).Aggregate(1L, (a, d) => a * d);
        return at switch
        {
            At.First => (0, 0),
            At.Last => (shape[0] - 1, row - 1),
            At.MidRow => (1, row / 2),
            At.PooledAway when shape.Length == 4 && shape[2] >= 2 && shape[3] >= 2 => (1, shape[3] + 1),
            _ => null,
        };
    }

    public static IEnumerable<TestCaseData> Cases()
        => PublicOps.Names.Concat(ListOps.Select(o => o.Name)).SelectMany(name => Enum.GetValues<At>()
               .Where(at => Get(name).Shapes(B).Any(s => Locate(s, at) is not null))
               .Select(at => new TestCaseData(name, at).SetName($"{{m}}({name},{at})")));

    static Tensor Poisoned(Tensor x, (long Sample, long Element) where, double value)
    {
        var y = x.clone();
        using (no_grad()) y.select(0, where.Sample).flatten()[where.Element] = value;
        return y;
    }

    [TestCaseSource(nameof(Cases))]
    public void Non_finite_input_gives_a_non_finite_result_and_check_mode_names_it(string name, At at)
    {
        using var _ = UseBackend();
        var op = Get(name);
        var saved = gpukd.check_inputs;
        try
        {
            foreach (var dtype in IsIlgpu ? [ScalarType.Float32] : new[] { ScalarType.Float32, ScalarType.Float64 })
            for (int k = 0; k < op.Args.Length; k++)
            {
                if (Locate(op.Shapes(B)[k], at) is not { } where) continue;
                foreach (var poison in Poison)
                {
                    using var scope = NewDisposeScope();
                    var xs = op.Inputs(B, dtype);
                    xs[k] = Poisoned(xs[k], where, poison);
                    var label = Label(name, dtype, $"argument {k} ({op.Args[k]})", $"{poison} at {at} [{where.Sample}, {where.Element}]");
                    gpukd.check_inputs = false;
                    var (value, grads) = Run(op, xs);
                    if (Tolerances.AllFinite(value) && double.IsNegativeInfinity(poison) && op.NegativeInfinityReference is { } reference)
                        Tolerances.AssertClose(value, reference(xs), dtype == ScalarType.Float32 ? 1e-5 : 1e-12, $"{label}: a finite result equals the reference's");
                    else
                        Assert.That(Tolerances.AllFinite(value), Is.False, $"{label}: finite value {value.to(ScalarType.Float64).sum().item<double>():R}, a silent wrong answer");
                    gpukd.check_inputs = true;
                    Assert.That(() => op.Call(xs), ThrowsNaming(op.Args[k]), label + " (check mode)");
                }
            }
            using var finite = NewDisposeScope();
            gpukd.check_inputs = true;
            Assert.That(() => Run(op, op.Inputs(B)), Throws.Nothing, Label(name, "finite input in check mode"));
        }
        finally { gpukd.check_inputs = saved; }
    }

    /// <summary>The CPU SIMD kernels clamp with <see cref="Vector.Max{T}(Vector{T}, Vector{T})"/> and
    /// <see cref="Vector.Min{T}(Vector{T}, Vector{T})"/> (the smooth-L1 derivative's clamp(z, −1, 1)) and with
    /// <c>T.Max</c>/<c>Math.Max</c> (norm clamps): safe only because .NET's versions return NaN for a NaN operand
    /// (IEEE 754:2019 maximum/minimum; x86's maxps alone would return the second operand). This pins that
    /// runtime behaviour down.</summary>
    [Test]
    public void Simd_and_scalar_max_min_propagate_NaN()
    {
        if (IsIlgpu) Assert.Ignore("runtime property, checked once");
        var nan = new Vector<double>(double.NaN);
        var one = Vector<double>.One;
        Assert.That(double.IsNaN(Vector.Max(nan, one)[0]) && double.IsNaN(Vector.Max(one, nan)[0]), "Vector.Max (double)");
        Assert.That(double.IsNaN(Vector.Min(nan, one)[0]) && double.IsNaN(Vector.Min(one, nan)[0]), "Vector.Min (double)");
        var nanF = new Vector<float>(float.NaN);
        Assert.That(float.IsNaN(Vector.Max(nanF, Vector<float>.One)[0]) && float.IsNaN(Vector.Min(Vector<float>.One, nanF)[0]), "Vector.Max/Min (float)");
        Assert.That(double.IsNaN(Math.Max(double.NaN, 1e-12)) && double.IsNaN(Math.Max(1e-12, double.NaN)), "Math.Max");
        Assert.That(float.IsNaN(float.Max(float.NaN, 1e-12f)) && double.IsNaN(double.Max(1e-12, double.NaN)), "T.Max");
        // The kernel helpers that replace T.Max in ILGPU code (PTX max drops NaN; these are comparisons).
        Assert.That(double.IsNaN(Kernels.Maths.KernelMath.MaxNaN(double.NaN, 1.0)) && double.IsNaN(Kernels.Maths.KernelMath.MaxNaN(1.0, double.NaN)), "MaxNaN");
        Assert.That(Kernels.Maths.KernelMath.MaxNaN(2.0, 1.0) == 2 && Kernels.Maths.KernelMath.MaxNaN(1.0, 2.0) == 2, "MaxNaN finite");
        Assert.That(double.IsNaN(Kernels.Maths.KernelMath.AtLeast(double.NaN, 1e-12)) && Kernels.Maths.KernelMath.AtLeast(0.0, 1e-12) == 1e-12
                    && Kernels.Maths.KernelMath.AtLeast(2.0, 1e-12) == 2, "AtLeast");
    }
}
