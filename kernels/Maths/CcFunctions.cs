using System.Numerics;
using System.Runtime.CompilerServices;

namespace GpuKd.Kernels.Maths;

/// <summary>
/// The kernel function K = f(A) of the correlation-congruence loss and its derivative, written once: a type, not a
/// mode flag, so each ILGPU kernel is compiled for one f (<see cref="Ilgpu.CcKernels"/>: <c>LossRows&lt;T, TF&gt;</c>) and the
/// CPU loops call the same bodies (<see cref="Cpu.CpuCc"/>, through <see cref="CcFunction"/>).
/// </summary>
public interface ICcFunction<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>f(a).</summary>
    T Value(T a);

    /// <summary>f'(a).</summary>
    T Slope(T a);
}

/// <summary>Gaussian RBF by its order-P Taylor series: f(a) = Σ_{p≤P} c0 (ta)^p/p! with t = 2γ, c0 = e^{−2γ}; terms built up
/// as c0·(ta)^p/p! (no factorials, no powers), p counted in T (int → T does not compile in kernels).</summary>
public struct TaylorRbf<T> : ICcFunction<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>The Taylor order P.</summary>
    public int Order;
    /// <summary>t = 2γ and c0 = e^{−2γ}.</summary>
    public T T2, C0;

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    public readonly T Value(T a)
    {
        T term = C0, f = C0, p = T.One;
        for (int k = 1; k <= Order; k++) { term = term * T2 * a / p; f += term; p += T.One; }
        return f;
    }

    /// <summary>t·Σ_{p&lt;P} c0 (ta)^p/p!: the series one order shorter.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    public readonly T Slope(T a)
    {
        if (Order == 0) return T.Zero;
        T term = C0, f = C0, p = T.One;
        for (int k = 1; k < Order; k++) { term = term * T2 * a / p; f += term; p += T.One; }
        return T2 * f;
    }
}

/// <summary>The exact Gaussian RBF on unit rows: f(a) = e^{t(a − 1)}, t = 2γ; f' = t·f.</summary>
public struct ExactRbf<T> : ICcFunction<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>t = 2γ.</summary>
    public T T2;

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    public readonly T Value(T a) => KernelMath.Exp(T2 * (a - T.One));

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    public readonly T Slope(T a) => T2 * KernelMath.Exp(T2 * (a - T.One));
}

/// <summary>Bilinear (on unit rows, or raw): f(a) = a.</summary>
public struct Bilinear<T> : ICcFunction<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Unused: a kernel parameter needs a size the PTX entry and the packer agree on.</summary>
    public T Unused;

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly T Value(T a) => a;

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly T Slope(T a) => T.One;
}

/// <summary>f and f' of the CC kernel chosen by an int kind (0 Taylor-RBF, 1 exact RBF, 2/3 bilinear): the CPU loops'
/// entry to the single source (<see cref="ICcFunction{T}"/>); the ILGPU kernels take the function as a type.</summary>
public static class CcFunction
{
    /// <summary>f(a).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    public static T Value<T>(T a, int kind, int order, T t, T c0) where T : unmanaged, IFloatingPointIeee754<T>
        => kind switch
        {
            0 => new TaylorRbf<T> { Order = order, T2 = t, C0 = c0 }.Value(a),
            1 => new ExactRbf<T> { T2 = t }.Value(a),
            _ => a,
        };

    /// <summary>f'(a).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    public static T Slope<T>(T a, int kind, int order, T t, T c0) where T : unmanaged, IFloatingPointIeee754<T>
        => kind switch
        {
            0 => new TaylorRbf<T> { Order = order, T2 = t, C0 = c0 }.Slope(a),
            1 => new ExactRbf<T> { T2 = t }.Slope(a),
            _ => T.One,
        };
}
