using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Tests;

/// <summary>
/// Seeded test inputs. Values are drawn in float64 and then cast, so the float32 input and its
/// float64 oracle input hold the same numbers (<see cref="Exact64"/>). "Rows" are along dim −2:
/// samples of [b, D], nodes of [B, N, C].
/// </summary>
public static class Inputs
{
    /// <summary>N(0, 1) features; the seed is derived from the shape so each size gets its own data.</summary>
    public static Tensor Randn(long[] shape, ScalarType dtype = ScalarType.Float64, int salt = 0)
    {
        using var g = new Generator(Seed(shape, salt));
        return randn(shape, ScalarType.Float64, generator: g).to(dtype);
    }

    /// <summary>Features sharing a large common offset (mean 100, spread 1): the Gram-form cancellation case.</summary>
    public static Tensor Offset(long[] shape, ScalarType dtype = ScalarType.Float64, double mean = 100, int salt = 0)
    {
        using var scope = NewDisposeScope();
        return (Randn(shape, ScalarType.Float64, salt) + mean).to(dtype).MoveToOuterDisposeScope();
    }

    /// <summary>x + 1% noise (features have spread 1): the "student ≈ teacher" case.</summary>
    public static Tensor Perturbed(Tensor x, double relative = 0.01, int salt = 99)
    {
        using var scope = NewDisposeScope();
        var noise = Randn(x.shape, ScalarType.Float64, salt);
        return (x.to(ScalarType.Float64) + relative * noise).to(x.dtype).MoveToOuterDisposeScope();
    }

    /// <summary>The same values in float64 (exact: every float32 is a float64).</summary>
    public static Tensor Exact64(Tensor x) => x.detach().to(ScalarType.Float64);

    /// <summary>A copy with row <paramref name="target"/> replaced by row <paramref name="source"/> (of every item).</summary>
    public static Tensor WithDuplicateRow(Tensor x, long target, long source)
    {
        var y = x.detach().clone();
        using (no_grad()) y.select(-2, target).copy_(y.select(-2, source));
        return y;
    }

    /// <summary>A copy with row <paramref name="row"/> set to exactly 0 (of every item).</summary>
    public static Tensor WithZeroRow(Tensor x, long row)
    {
        var y = x.detach().clone();
        using (no_grad()) y.select(-2, row).zero_();
        return y;
    }

    /// <summary>A copy with one element set to <paramref name="value"/> (NaN, ±Inf).</summary>
    public static Tensor WithValueAt(Tensor x, double value, params long[] index)
    {
        var y = x.detach().clone();
        using (no_grad())
        {
            var e = y;
            foreach (var i in index) e = e.select(0, i);
            e.fill_(value);
        }
        return y;
    }

    static ulong Seed(long[] shape, int salt)
    {
        ulong s = 1469598103934665603UL ^ (ulong)salt;   // FNV-1a over the dims: stable across runs
        foreach (var d in shape) { s ^= (ulong)d; s *= 1099511628211UL; }
        return s % (1UL << 62);
    }
}
