using System.Numerics;
using System.Runtime.CompilerServices;
using GpuKd.Kernels.Maths;
using ILGPU;

namespace GpuKd.Kernels.Ilgpu;

/// <summary>
/// Correlation-congruence KD epilogues (DESIGN §4, REFERENCE.md CC) on the correlation matrices A
/// of the two sides (A = X̂X̂ᵀ, or XXᵀ for the raw bilinear kernel): K = f(A) elementwise,
/// L = Σ (K^S − K^T)² / b². f is a type (<see cref="ICcFunction{T}"/>: <see cref="TaylorRbf{T}"/>,
/// <see cref="ExactRbf{T}"/>, <see cref="Bilinear{T}"/>), so each kernel is compiled for one f.
/// K is never stored: it is recomputed from A where needed.
/// </summary>
public static class CcKernels
{
    /// <summary>partial_i = Σ_j (f(as_ij) − f(at_ij))², one group of W threads per row (grid = n groups, dynamic
    /// shared memory W elements; lanes combined by a fixed tree, <see cref="GroupReduce"/>).</summary>
    public static void LossRows<T, TF>(ArrayView<T> aS, ArrayView<T> aT, ArrayView<T> partial, int n, TF f)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TF : struct, ICcFunction<T>
    {
        int i = Grid.IdxX;
        long o = (long)i * n;
        T s = T.Zero;
        for (int j = Group.IdxX; j < n; j += Group.DimX)
        {
            T e = f.Value(aS[o + j]) - f.Value(aT[o + j]);
            s += e * e;
        }
        s = GroupReduce.Sum(SharedMemory.GetDynamic<T>(), s);
        if (Group.IdxX == 0) partial[i] = s;
    }

    /// <summary>Ā = scale·(f(A^self) − f(A^other))·f'(A^self), one thread per entry; then X̄ = (Ā + Āᵀ)X̂
    /// and the normalisation's backward (not for the raw bilinear kernel).</summary>
    public static void Backward<T, TF>(Index1D k, ArrayView<T> aSelf, ArrayView<T> aOther, ArrayView<T> abar, TF f, T scale)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TF : struct, ICcFunction<T>
    {
        T a = aSelf[k];
        abar[k] = scale * (f.Value(a) - f.Value(aOther[k])) * f.Slope(a);
    }
}
