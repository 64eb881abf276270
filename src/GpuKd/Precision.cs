using static TorchSharp.torch;

namespace GpuKd;

/// <summary>
/// float16 / bfloat16 inputs (issue 8's decision: accept them). Every op computes in float32 on a
/// float32 copy of its inputs and returns its result in the inputs' dtype; autograd casts the
/// gradient back, so a half-precision input gets a half-precision gradient. The kernels themselves
/// stay float32/float64: Gram entries and their epilogues need float32's range and precision (a
/// float16 Gram of unit features overflows at D ≈ 65 000, and its 11-bit mantissa would miss the
/// DESIGN §5 bars by orders of magnitude). Costs one cast of each input and of the result.
/// All tensor inputs of one call must share the reduced dtype (no silent mixed precision).
/// </summary>
internal static class Precision
{
    static bool IsReduced(Tensor? x) => x is not null && (x.dtype == ScalarType.Float16 || x.dtype == ScalarType.BFloat16);

    /// <summary>f(x) in float32 when x is float16/bfloat16, cast back; f(x) otherwise. Every public op enters here, so
    /// this is also where a leaf input gets its no-copy gradient view (<see cref="Ops.LeafGrad"/>).</summary>
    public static Tensor Lift(Tensor x, Func<Tensor, Tensor> f)
        => IsReduced(x) ? f(x.to(ScalarType.Float32)).to(x.dtype) : f(Ops.LeafGrad.Shield(x));

    /// <summary>f(inputs) with every input in float32 when any is float16/bfloat16 (all must then share its dtype).</summary>
    public static Tensor Lift(string[] names, Tensor[] xs, Func<Tensor[], Tensor> f)
    {
        if (!xs.Any(IsReduced)) return f(xs.Select(x => Ops.LeafGrad.Shield(x)).ToArray());
        for (int i = 1; i < xs.Length; i++)
            if (xs[i] is not null && xs[0] is not null && xs[i].dtype != xs[0].dtype)
                throw new ArgumentException($"{names[i]} must have the dtype of {names[0]} ({xs[0].dtype}), got {xs[i].dtype} " +
                                            "(float16/bfloat16 inputs are computed in float32 when all inputs share that dtype).", names[i]);
        var dtype = xs.First(IsReduced).dtype;
        return f(xs.Select(x => x?.to(ScalarType.Float32)!).ToArray()).to(dtype);
    }
}
