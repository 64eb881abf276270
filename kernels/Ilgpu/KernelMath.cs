using System.Numerics;
using System.Runtime.CompilerServices;

namespace GpuKd.Kernels.Ilgpu;

/// <summary>
/// Scalar functions for kernels that ILGPU's PTX backend has no intrinsic for without
/// ILGPU.Algorithms (which GpuKd's contexts do not enable): plain arithmetic only, so the same
/// code compiles for CUDA, runs on the CPU accelerator, and serves the CPU twins.
/// </summary>
public static class KernelMath
{
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
}
