using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Tests;

/// <summary>
/// Value and gradient of an op the way every parity test compares them: reduce the output with a
/// fixed random weight tensor, L = Σ W ⊙ f(x), and backpropagate. Both sides of a comparison get
/// the same W (drawn in float64, cast to the output dtype).
/// </summary>
public static class Autodiff
{
    /// <summary>Fixed N(0, 1) weights for an output of <paramref name="shape"/>.</summary>
    public static Tensor Weights(long[] shape, ScalarType dtype, int seed = 4242)
    {
        using var g = new Generator((ulong)seed);
        return randn(shape, ScalarType.Float64, generator: g).to(dtype);
    }

    /// <summary>
    /// f(x) and ∂(Σ W ⊙ f(x))/∂x, on a fresh leaf holding x's values with x's strides (so a
    /// non-contiguous or offset input keeps its layout). W defaults to <see cref="Weights"/>.
    /// </summary>
    public static (Tensor Value, Tensor Grad) ValueAndGrad(Func<Tensor, Tensor> f, Tensor x, Tensor? weights = null)
    {
        // The leaf is a flat buffer and the op sees x's exact view of it (strides and storage
        // offset); clone() would keep a transpose's strides but close a slice's gaps.
        var shape = x.shape;
        var strides = x.stride();
        var offset = x.storage_offset();
        long extent = 1;
        for (int k = 0; k < strides.Length; k++) extent += (shape[k] - 1) * strides[k];
        var buffer = zeros([offset + extent], x.dtype);
        using (no_grad()) buffer.as_strided(shape, strides, offset).copy_(x.detach());
        buffer.requires_grad_(true);
        var input = buffer.as_strided(shape, strides, offset);

        var value = f(input);
        var w = weights ?? Weights(value.shape, value.dtype);
        (value * w.to(value.dtype)).sum().backward();
        var grad = buffer.grad ?? throw new InvalidOperationException("the op returned no gradient for its input");
        return (value.detach(), grad.as_strided(shape, strides, offset).detach());
    }
}
