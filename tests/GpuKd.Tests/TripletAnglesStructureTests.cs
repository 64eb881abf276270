using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Tests;

/// <summary>
/// The structure the triplet-angle contract promises, A[a,b,c] = u_ab·u_ac: shape [b, b, b],
/// exactly 0 where b = a or c = a (a zero leg), 1 where b = c ≠ a (a unit leg with itself),
/// symmetric in the legs, inside [−1, 1].
/// </summary>
[TestFixture(KdBackend.Cpu)]
[TestFixture(KdBackend.Ilgpu)]
public sealed class TripletAnglesStructureTests(KdBackend backend) : BackendFixture(backend)
{
    static readonly int[] Batches = [1, 2, 3, 17];

    static Tensor Angles(Tensor x) => OpCases.Get(OpCases.TripletAngles).Ours(x);

    /// <summary>
    /// Bound on |A[a,b,b] − 1|, the leg asymmetry and |A| − 1. In float32 the Gram-form numerator of a
    /// short leg is a difference of O(‖x‖²) terms: crowded 1-D points (b = 17, D = 1) put a Gram-form
    /// composition 1.4e-3 off there, so float32 D = 1 is held only to the exact zeros (and to the
    /// norm-wise bar in <see cref="Float32AccuracyTests"/>).
    /// </summary>
    static double UnitTolerance(ScalarType dtype) => dtype == ScalarType.Float64 ? 1e-12 : 1e-5;

    [Test]
    public void Shape_dtype_zeros_ones_symmetry_and_range(
        [Values(ScalarType.Float32, ScalarType.Float64)] ScalarType dtype,
        [Values(1, 3, 33)] int d)
    {
        using var _ = UseBackend();
        foreach (var b in Batches)
        {
            using var scope = NewDisposeScope();
            var where = Label(OpCases.TripletAngles, $"b={b}", $"D={d}", dtype);
            var a = Angles(Inputs.Randn([b, d], dtype));
            Assert.That(a.shape, Is.EqualTo(new long[] { b, b, b }), $"{where}: shape");
            Assert.That(a.dtype, Is.EqualTo(dtype), $"{where}: dtype");

            var index = arange(b);
            var ia = index.reshape(b, 1, 1);
            var ib = index.reshape(1, b, 1);
            var ic = index.reshape(1, 1, b);
            var zeroLeg = ib.eq(ia).logical_or(ic.eq(ia));
            var unitLeg = ib.eq(ic).logical_and(ib.ne(ia));
            var a64 = a.to(ScalarType.Float64);

            Assert.That(Tolerances.MaxAbs(a64.masked_select(zeroLeg)), Is.EqualTo(0.0), $"{where}: A = 0 exactly where b = a or c = a");
            if (dtype == ScalarType.Float32 && d == 1) continue;
            if (b >= 2)
                Assert.That(Tolerances.MaxAbs(a64.masked_select(unitLeg) - 1), Is.LessThanOrEqualTo(UnitTolerance(dtype)),
                            $"{where}: A = 1 where b = c ≠ a");
            Assert.That(Tolerances.MaxAbs(a64 - a64.transpose(1, 2)), Is.LessThanOrEqualTo(UnitTolerance(dtype)), $"{where}: A[a,b,c] = A[a,c,b]");
            Assert.That(Tolerances.MaxAbs(a64), Is.LessThanOrEqualTo(1 + UnitTolerance(dtype)), $"{where}: |A| ≤ 1");
        }
    }

    [Test]
    public void Two_rows_give_ones_at_the_two_unit_legs_and_zeros_elsewhere()
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var a = Angles(Inputs.Randn([2, 5]));
        var expected = zeros([2, 2, 2], ScalarType.Float64);
        expected[0, 1, 1] = tensor(1.0);
        expected[1, 0, 0] = tensor(1.0);
        Tolerances.AssertClose(a, expected, 1e-14, Label(OpCases.TripletAngles, "b=2"));
    }
}
