using System.Numerics;
using System.Runtime.CompilerServices;

namespace GpuKd.Kernels.Maths;

/// <summary>
/// What a pdist returns from a squared distance q, and how its gradient reaches q: a type, not a flag, so each
/// distance kernel is compiled for one form (<see cref="Ilgpu.DistanceKernels"/>, <see cref="Ilgpu.WideKernels"/>).
/// Both clamp q below at <c>clamp</c> first (NaN kept), as <see cref="PairMath.Distance{T}"/>.
/// </summary>
public interface IDistanceForm<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>The output for squared distance q.</summary>
    T Output(T q, T clamp);

    /// <summary>q̄ from the output's gradient d̄ and the output d (above the clamp).</summary>
    T SquaredGradient(T dbar, T d);
}

/// <summary>The squared distance itself: d = max(q, clamp), q̄ = d̄.</summary>
public struct SquaredDistance<T> : IDistanceForm<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly T Output(T q, T clamp) => PairMath.Distance(q, clamp, squared: true);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly T SquaredGradient(T dbar, T d) => dbar;
}

/// <summary>The Euclidean distance: d = √max(q, clamp), q̄ = d̄/(2d).</summary>
public struct EuclideanDistance<T> : IDistanceForm<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly T Output(T q, T clamp) => PairMath.Distance(q, clamp, squared: false);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly T SquaredGradient(T dbar, T d) => dbar / (d + d);
}
