using System.Numerics;
using ILGPU;

namespace GpuKd.Kernels.Ilgpu;

/// <summary>
/// Deterministic reductions across the W lanes of one thread group (W a power of two), for kernels that give a
/// group to each row: a fixed binary tree over shared memory, so the result depends only on W, never on timing.
/// Every lane must call it (it holds barriers); every lane gets the result.
/// </summary>
internal static class GroupReduce
{
    /// <summary>Σ of <paramref name="value"/> over the lanes: lane l adds lane l + s for s = W/2, W/4, …, 1.
    /// <paramref name="lanes"/> is W elements of shared memory, free again when this returns.</summary>
    public static T Sum<T>(ArrayView<T> lanes, T value) where T : unmanaged, INumber<T>
    {
        int l = Group.IdxX;
        lanes[l] = value;
        Group.Barrier();
        for (int s = Group.DimX / 2; s > 0; s /= 2)
        {
            if (l < s) lanes[l] += lanes[l + s];
            Group.Barrier();
        }
        T total = lanes[0];
        Group.Barrier();   // every lane has read the total before the caller reuses the lanes
        return total;
    }
}
