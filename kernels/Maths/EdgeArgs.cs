using ILGPU;

namespace GpuKd.Kernels.Maths;

/// <summary>Sizes and constants of the IRG edge kernels (too many for separate kernel arguments).</summary>
public struct EdgeArgs<T> where T : unmanaged
{
    /// <summary>Batch size and the feature widths of the two sides.</summary>
    public int N, DSelf, DOther;
    /// <summary>pdist clamp (1e-12) and the Gram-form recompute threshold τ (see <see cref="PairMath"/>).</summary>
    public T Clamp, Tau;
    /// <summary>Backward: Ē = Scale·(E^self − E^other).</summary>
    public T Scale;
}

/// <summary>What the edge epilogues need of the two matrices' maxima: given by the host on the CPU path, read from
/// the device (<see cref="Ilgpu.EdgeKernels.Max{T}"/>'s [max, count, 1/max] per side) by the device kernels.</summary>
public struct EdgeMax<T> where T : unmanaged
{
    /// <summary>1/max of each side's matrix (0 when the max is 0: the matrix is then 0, not NaN).</summary>
    public T InvMSelf, InvMOther;
    /// <summary>Backward: the max of the side "self" and the gradient each entry equal to it receives.</summary>
    public T Max, MaxBarPerTie;

    /// <summary>From the device blocks [max, count, 1/max] of both sides and the per-tie gradient (one element).</summary>
    public static EdgeMax<T> Of(ArrayView<T> self, ArrayView<T> other, ArrayView<T> maxBar)
        => new() { InvMSelf = self[2], InvMOther = other[2], Max = self[0], MaxBarPerTie = maxBar[0] };
}
