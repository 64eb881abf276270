using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Tests;

/// <summary>
/// Memory layout must not change results: a transposed or strided view, a view with a storage
/// offset, and (for the [b, …] ops) extra feature axes give the same value and gradient as the
/// contiguous [b, D] copy. Zero-copy interop through <c>tensor.bytes</c> or raw pointers gets
/// exactly these wrong if it ignores strides or the storage offset.
/// </summary>
[TestFixture(KdBackend.Cpu)]
[TestFixture(KdBackend.Ilgpu)]
public sealed class LayoutTests(KdBackend backend) : BackendFixture(backend)
{
    /// <summary>Non-contiguous or offset views holding a [b, D] (or [2, b, D]) input.</summary>
    static IEnumerable<(string Name, Tensor View)> Views(OpCase c, int b, int d, ScalarType t)
    {
        if (c.Batched)
        {
            yield return ("transposed [B, C, N]", Inputs.Randn([2, d, b], t).transpose(1, 2));
            yield return ("every other node", Inputs.Randn([2, 2 * b, d], t).slice(1, 0, 2 * b, 2));
            yield return ("every other channel", Inputs.Randn([2, b, 2 * d], t).slice(2, 0, 2 * d, 2));
            yield return ("storage offset", Inputs.Randn([3, b, d], t).slice(0, 1, 3, 1));
            yield break;
        }
        yield return ("x.t() of [D, b]", Inputs.Randn([d, b], t).t());
        yield return ("every other row", Inputs.Randn([2 * b, d], t).slice(0, 0, 2 * b, 2));
        yield return ("every other column", Inputs.Randn([b, 2 * d], t).slice(1, 0, 2 * d, 2));
        yield return ("storage offset", Inputs.Randn([b + 1, d], t).slice(0, 1, b + 1, 1));
    }

    [TestCaseSource(typeof(OpCases), nameof(OpCases.Names))]
    public void Non_contiguous_input_equals_its_contiguous_copy(string op)
    {
        using var _ = UseBackend();
        var c = OpCases.Get(op);
        var (b, d) = TypicalSize;
        foreach (var dtype in new[] { ScalarType.Float32, ScalarType.Float64 })
        {
            using var scope = NewDisposeScope();
            var tolerance = dtype == ScalarType.Float64 ? Tolerances.SameComputation : 1e-6;
            foreach (var (name, view) in Views(c, b, d, dtype))
            {
                var where = Label(op, $"b={b}", $"D={d}", dtype, name);
                Assert.That(name == "storage offset" ? view.storage_offset() > 0 : !view.is_contiguous(), $"{where}: the test view is not what it claims");
                var (value, grad) = Autodiff.ValueAndGrad(c.Ours, view);
                var (expected, expectedGrad) = Autodiff.ValueAndGrad(c.Ours, view.contiguous());
                Tolerances.AssertClose(value, expected, tolerance, $"{where}: value");
                Tolerances.AssertClose(grad, expectedGrad, tolerance, $"{where}: gradient", floor: 1);
            }
        }
    }

    /// <summary>[b, …] ops only: cosine_similarity_matrix reads a rank-3 input as [B, N, C].</summary>
    [TestCaseSource(typeof(OpCases), nameof(OpCases.FlatteningNames))]
    public void Extra_feature_axes_are_flattened(string op)
    {
        var c = OpCases.Get(op);
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var b = TypicalSize.B;
        var x4 = Inputs.Randn([b, 2, 3, 2]);
        var (value, grad) = Autodiff.ValueAndGrad(c.Ours, x4);
        var (flat, flatGrad) = Autodiff.ValueAndGrad(c.Ours, x4.reshape(b, 12));
        Tolerances.AssertClose(value, flat, Tolerances.SameComputation, Label(op, "[b, 2, 3, 2] vs [b, 12]: value"));
        Tolerances.AssertClose(grad.reshape(b, 12), flatGrad, Tolerances.SameComputation, Label(op, "[b, 2, 3, 2] vs [b, 12]: gradient"), floor: 1);
    }
}
