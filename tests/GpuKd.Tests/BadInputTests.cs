using NUnit.Framework;
using NUnit.Framework.Constraints;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Tests;

/// <summary>
/// Invalid input raises <see cref="ArgumentException"/> (or a subclass) whose ParamName is the
/// argument (DESIGN §6 "Bad input"): wrong rank, non-floating dtype, empty batch or features,
/// cosine ε ≤ 0. Checked on both backends: validation must not depend on which one runs.
/// </summary>
[TestFixture(KdBackend.Cpu)]
[TestFixture(KdBackend.Ilgpu)]
public sealed class BadInputTests(KdBackend backend) : BackendFixture(backend)
{
    static IResolveConstraint ThrowsNaming(string parameter)
        => Throws.InstanceOf<ArgumentException>().With.Property(nameof(ArgumentException.ParamName)).EqualTo(parameter);

    void AssertRejects(string op, Tensor x, string why, string parameter = "x")
    {
        var c = OpCases.Get(op);
        Assert.That(() => c.Ours(x), ThrowsNaming(parameter), Label(op, why, $"shape [{string.Join(", ", x.shape)}]", x.dtype));
    }

    [TestCaseSource(typeof(OpCases), nameof(OpCases.FunctionNames))]
    public void Rank_0_is_rejected(string op)
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        AssertRejects(op, tensor(1.5, ScalarType.Float64), "rank 0");
        AssertRejects(op, tensor(1.5f, ScalarType.Float32), "rank 0");
    }

    [Test]
    public void Cosine_accepts_only_rank_2_or_3()
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        AssertRejects(OpCases.Cosine, Inputs.Randn([4]), "rank 1");
        AssertRejects(OpCases.Cosine, Inputs.Randn([2, 3, 4, 5]), "rank 4");
    }

    [TestCaseSource(typeof(OpCases), nameof(OpCases.FunctionNames))]
    public void Non_float_dtype_is_rejected(string op)
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        // float16/bfloat16 are accepted (computed in float32): InputValidationTests.Half_precision_…
        foreach (var dtype in new[] { ScalarType.Int32, ScalarType.Int64, ScalarType.Bool, ScalarType.ComplexFloat32 })
            AssertRejects(op, ones([3, 4], dtype), "dtype");
    }

    [TestCaseSource(typeof(OpCases), nameof(OpCases.FunctionNames))]
    public void Empty_batch_or_features_is_rejected(string op)
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        long[][] shapes = op == OpCases.Cosine
            ? [[0, 3], [3, 0], [2, 0, 3], [2, 3, 0]]
            : [[0, 3], [3, 0], [3, 2, 0], [0, 2, 2]];
        foreach (var shape in shapes)
            AssertRejects(op, zeros(shape, ScalarType.Float64), "empty");
    }

    [Test]
    public void Cosine_eps_must_be_positive([Values(0.0, -1e-12, -1.0)] double eps)
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var x = Inputs.Randn([3, 4]);
        Assert.That(() => gpukd.functional.cosine_similarity_matrix(x, eps), ThrowsNaming("eps"), Label(OpCases.Cosine, $"eps={eps}"));
    }
}
