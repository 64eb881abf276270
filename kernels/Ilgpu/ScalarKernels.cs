using System.Numerics;
using ILGPU;

namespace GpuKd.Kernels.Ilgpu;

/// <summary>
/// The last step of the device-side reductions, so that a scalar a program needs next (RKD's 1/μ, the μ term of
/// its gradient) or returns (a loss total) never visits the host: one thread adds a short vector of partial sums
/// (b row or column totals) in index order, compensated (Neumaier), and writes one element. Launched with an
/// extent of 1; deterministic. The upstream gradient of a loss is applied the same way, from device memory
/// (<see cref="ScaleBy{T}"/>).
/// </summary>
public static class ScalarKernels
{
    /// <summary>Σ v[0..count) in order, compensated.</summary>
    static T Sum<T>(ArrayView<T> v, int count) where T : unmanaged, IFloatingPointIeee754<T>
    {
        T s = T.Zero, comp = T.Zero;
        for (int k = 0; k < count; k++)
        {
            T x = v[k], t = s + x;
            comp += T.Abs(s) >= T.Abs(x) ? (s - t) + x : (x - t) + s;
            s = t;
        }
        return s + comp;
    }

    /// <summary>result[0] = scale · Σ values[0..count).</summary>
    public static void Total<T>(Index1D index, ArrayView<T> values, ArrayView<T> result, int count, T scale)
        where T : unmanaged, IFloatingPointIeee754<T>
        => result[0] = scale * Sum(values, count);

    /// <summary>result[0] = numerator / Σ sums[0..count): RKD's 1/μ from the column totals of the distances.</summary>
    public static void Reciprocal<T>(Index1D index, ArrayView<T> sums, ArrayView<T> result, int count, T numerator)
        where T : unmanaged, IFloatingPointIeee754<T>
        => result[0] = numerator / Sum(sums, count);

    /// <summary>result[0] = Σ rowDots · invMu[0]² · invPairs: the μ term of the RKD distance-loss gradient.</summary>
    public static void MuTerm<T>(Index1D index, ArrayView<T> rowDots, ArrayView<T> invMu, ArrayView<T> result, int count, T invPairs)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        T m = invMu[0];
        result[0] = Sum(rowDots, count) * m * m * invPairs;
    }

    /// <summary>x[i] *= s[0]: a loss gradient computed for upstream 1 times the real upstream, read on the device.</summary>
    public static void ScaleBy<T>(Index1D i, ArrayView<T> x, ArrayView<T> s)
        where T : unmanaged, IFloatingPointIeee754<T>
        => x[i] *= s[0];

    /// <summary>y[i] = a[0] + b[0]: a gradient that is exactly 0 but carries the inputs' NaN/Inf (a and b are 0·Σ of
    /// them, <see cref="Total{T}"/> with scale 0), e.g. the angles' gradient on 1-D rows.</summary>
    public static void FillSum<T>(Index1D i, ArrayView<T> y, ArrayView<T> a, ArrayView<T> b)
        where T : unmanaged, IFloatingPointIeee754<T>
        => y[i] = a[0] + b[0];

    /// <summary>x[i] = v.</summary>
    public static void Fill<T>(Index1D i, ArrayView<T> x, T v)
        where T : unmanaged, IFloatingPointIeee754<T>
        => x[i] = v;

    /// <summary>x[i] *= s (a host constant: e.g. the IRG pseudo-Gram −q/2).</summary>
    public static void Times<T>(Index1D i, ArrayView<T> x, T s)
        where T : unmanaged, IFloatingPointIeee754<T>
        => x[i] *= s;
}
