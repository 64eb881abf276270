using System.Numerics;
using System.Runtime.CompilerServices;
using ILGPU;

namespace GpuKd.Kernels.Ilgpu;

/// <summary>
/// Correlation-congruence KD epilogues (DESIGN §4, REFERENCE.md CC) on the correlation matrices A
/// of the two sides (A = X̂X̂ᵀ, or XXᵀ for the raw bilinear kernel): K = f(A) elementwise,
/// L = Σ (K^S − K^T)² / b². f by <c>kind</c>: 0 Taylor-RBF Σ_{p≤P} e^{−2γ}(2γ)^p/p!·a^p,
/// 1 exact RBF e^{−2γ(1−a)}, 2/3 bilinear a. Hosts pass t = 2γ and c0 = e^{−2γ}.
/// K is never stored: it is recomputed from A where needed.
/// </summary>
public static class CcKernels
{
    /// <summary>partial_i = Σ_j (f(as_ij) − f(at_ij))², one group of W threads per row (grid = n groups, dynamic
    /// shared memory W elements; lanes combined by a fixed tree, <see cref="GroupReduce"/>).</summary>
    public static void LossRows<T>(ArrayView<T> aS, ArrayView<T> aT, ArrayView<T> partial, int n, int kind, int order, T t, T c0)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int i = Grid.IdxX;
        long o = (long)i * n;
        T s = T.Zero;
        for (int j = Group.IdxX; j < n; j += Group.DimX)
        {
            T e = CcFunction.Value(aS[o + j], kind, order, t, c0) - CcFunction.Value(aT[o + j], kind, order, t, c0);
            s += e * e;
        }
        s = GroupReduce.Sum(SharedMemory.GetDynamic<T>(), s);
        if (Group.IdxX == 0) partial[i] = s;
    }

    /// <summary>Ā = scale·(f(A^self) − f(A^other))·f'(A^self), one thread per entry; then X̄ = (Ā + Āᵀ)X̂
    /// and the normalisation's backward (not for the raw bilinear kernel).</summary>
    public static void Backward<T>(Index1D k, ArrayView<T> aSelf, ArrayView<T> aOther, ArrayView<T> abar, int kind, int order, T t, T c0, T scale)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        T a = aSelf[k];
        abar[k] = scale * (CcFunction.Value(a, kind, order, t, c0) - CcFunction.Value(aOther[k], kind, order, t, c0)) * CcFunction.Slope(a, kind, order, t, c0);
    }
}

/// <summary>The CC kernel function f and its derivative, shared by the ILGPU kernels and their CPU twins
/// (helpers, not kernels: not in the PTX catalog).</summary>
public static class CcFunction
{
    /// <summary>f(a). Taylor terms are built up as c0·(ta)^p/p! (no factorials, no powers);
    /// p is counted in T because int → T conversions do not compile in kernels.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    public static T Value<T>(T a, int kind, int order, T t, T c0) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (kind == 1) return KernelMath.Exp(t * (a - T.One));
        if (kind != 0) return a;
        T term = c0, f = c0, p = T.One;
        for (int k = 1; k <= order; k++) { term = term * t * a / p; f += term; p += T.One; }
        return f;
    }

    /// <summary>f'(a): for the Taylor series t·Σ_{p&lt;P} c0(ta)^p/p! (the series one order shorter), t·f for the exact RBF, 1 for bilinear.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    public static T Slope<T>(T a, int kind, int order, T t, T c0) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (kind == 1) return t * KernelMath.Exp(t * (a - T.One));
        if (kind != 0) return T.One;
        if (order == 0) return T.Zero;
        T term = c0, f = c0, p = T.One;
        for (int k = 1; k < order; k++) { term = term * t * a / p; f += term; p += T.One; }
        return t * f;
    }
}
