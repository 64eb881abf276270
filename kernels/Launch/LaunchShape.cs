namespace GpuKd.Kernels.Launch;

/// <summary>
/// How a kernel is launched. An explicitly grouped kernel gets its grid, group and dynamic shared memory
/// (<see cref="Groups"/>); an implicitly grouped one gets only its extent (<see cref="Extent1"/>,
/// <see cref="Extent2"/>: the device picks the group and the grid covers the extent; the kernel's leading index
/// parameter carries the extent and masks the overhang).
/// </summary>
public readonly record struct LaunchShape(bool Explicit, int GridX, int GridY, int GridZ, int GroupX, int GroupY, int SharedBytes, int ExtentX, int ExtentY, int Rank)
{
    /// <summary>Explicit grid of groups, group shape and dynamic shared bytes.</summary>
    public static LaunchShape Groups(int gridX, int gridY, int gridZ, int groupX, int groupY, int sharedBytes)
        => new(true, gridX, gridY, gridZ, groupX, groupY, sharedBytes, 0, 0, 0);

    /// <summary>A 1-D extent (Index1D kernels).</summary>
    public static LaunchShape Extent1(long x)
        => new(false, 0, 0, 0, 0, 0, 0, checked((int)x), 1, 1);

    /// <summary>A 2-D extent (Index2D kernels).</summary>
    public static LaunchShape Extent2(long x, long y)
        => new(false, 0, 0, 0, 0, 0, 0, checked((int)x), checked((int)y), 2);

    /// <summary>True when the launch has no thread (an empty extent or grid): devices skip it.</summary>
    public bool IsEmpty => Explicit ? GridX == 0 || GridY == 0 || GridZ == 0 : ExtentX == 0 || ExtentY == 0;

    /// <inheritdoc/>
    public override string ToString() => Explicit
        ? $"grid ({GridX}, {GridY}, {GridZ}) x group ({GroupX}, {GroupY}), {SharedBytes} B shared"
        : Rank == 1 ? $"extent {ExtentX}" : $"extent ({ExtentX}, {ExtentY})";
}
