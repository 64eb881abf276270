using System.Numerics;
using System.Runtime.CompilerServices;

namespace GpuKd.Kernels.Maths;

/// <summary>
/// Scalar functions for kernels that ILGPU's PTX backend has no intrinsic for without
/// ILGPU.Algorithms (which GpuKd's contexts do not enable): plain arithmetic only, so the same
/// code compiles for CUDA, runs on the CPU accelerator, and serves the CPU twins.
/// </summary>
public static class KernelMath
{
    /// <summary>
    /// max(a, b) that returns NaN when either is NaN, on every backend. <c>T.Max</c>/<c>Math.Max</c> propagate NaN in
    /// .NET, but ILGPU compiles them to PTX <c>max</c>, which returns the other operand: a NaN norm under
    /// <c>T.Max(norm, eps)</c> became eps on CUDA only (the CPU accelerator runs the .NET method), a silent finite
    /// answer. Written as comparisons, which compile alike everywhere.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T MaxNaN<T>(T a, T b) where T : unmanaged, IFloatingPointIeee754<T>
        => T.IsNaN(a) || a > b ? a : b;

    /// <summary>x clamped below at <paramref name="lo"/> (a finite constant); a NaN x stays NaN on every backend
    /// (the comparison is false for NaN, so x is kept).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T AtLeast<T>(T x, T lo) where T : unmanaged, IFloatingPointIeee754<T>
        => x < lo ? lo : x;

    /// <summary>
    /// e^x from plain arithmetic: a = |x| halved m times to ≤ 1, a 22-term Taylor series of e^a
    /// (positive terms: no cancellation; truncation below 1e-21 relative), squared m times, inverted
    /// for x &lt; 0. Each squaring doubles the relative error, so it is ≈ 2^m ulp: 1–2 ulp for |x| ≤ 1,
    /// ~4 at the CC kernel's |x| ≤ 1.6 (γ = 0.4). e^{−∞} = 0, e^{+∞} = ∞, NaN stays NaN.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static T Exp<T>(T x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        T half = T.One / (T.One + T.One);
        T a = T.Abs(x);
        int m = 0;
        while (m < 1100 && a > T.One) { a *= half; m++; }
        T term = T.One, sum = T.One, p = T.One;
        for (int k = 1; k <= 22; k++) { term = term * a / p; sum += term; p += T.One; }
        for (int k = 0; k < m; k++) sum *= sum;
        return x < T.Zero ? T.One / sum : sum;
    }

    /// <summary>
    /// ln x from plain arithmetic: x = 2^k·a with a ∈ [√½, √2] (exact halvings/doublings), then
    /// ln a = 2 atanh u = 2u + 2u³(1/3 + u²/5 + …), u = (a − 1)/(a + 1), |u| ≤ 0.172 (20 terms by Horner, small
    /// terms first: truncation below 1e-30), and ln 2 = 2 atanh(1/3) = ⅔(1 + Σ_{i≥1} 9^{−i}/(2i+1)) the same way.
    /// ≤ 2.5 ulp over 20 000 random x ∈ [0.01, 100] (float64, checked against Math.Log off-line); ln 0 = −∞,
    /// ln x&lt;0 = NaN, ln ∞ = ∞.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static T Log<T>(T x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (T.IsNaN(x) || x < T.Zero) return T.NaN;
        if (x == T.Zero) return T.NegativeInfinity;
        if (T.IsPositiveInfinity(x)) return x;
        T two = T.One + T.One, half = T.One / two, root2 = T.Sqrt(two), k = T.Zero;
        int guard = 0;
        while (guard < 1100 && x > root2) { x *= half; k += T.One; guard++; }
        while (guard < 2200 && x * root2 < T.One) { x *= two; k -= T.One; guard++; }
        T ninth = T.One / (two * (two + T.One) + two + T.One), twoThirds = two / (two + T.One);
        T ln2 = twoThirds + twoThirds * (ninth * OddTail(ninth, 30));
        T u = (x - T.One) / (x + T.One), u2 = u * u;
        return k * ln2 + (two * u + two * u * u2 * OddTail(u2, 20));
    }

    /// <summary>Σ_{i=1..terms} v^(i−1)/(2i+1), by Horner from the smallest term (denominators counted in T: int → T
    /// conversions do not compile in kernels).</summary>
    static T OddTail<T>(T v, int terms) where T : unmanaged, IFloatingPointIeee754<T>
    {
        T two = T.One + T.One, den = T.One;
        for (int i = 0; i < terms; i++) den += two;
        T s = T.Zero;
        for (int i = 0; i < terms; i++) { s = s * v + T.One / den; den -= two; }
        return s;
    }
}
