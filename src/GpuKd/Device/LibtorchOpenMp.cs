using GpuKd.Kernels.Cpu;

namespace GpuKd.Device;

/// <summary>
/// Finds libtorch's OpenMP runtime for the CPU kernels' parallel loops (<see cref="OpenMpTeam"/>): libgomp's
/// <c>GOMP_parallel</c>, looked up through <c>libtorch_cpu</c> (dlsym searches its dependencies, so this is the very
/// libgomp libtorch runs its own regions on). Registered by the first op (<see cref="KdRuntime"/>), resolved on the next parallel loop, when libtorch is loaded.
/// <c>GPUKD_CPU_THREADS=dotnet</c> keeps the .NET thread pool (for A/B timing); a libtorch without libgomp (another
/// OpenMP, or none) keeps it too.
/// </summary>
internal static class LibtorchOpenMp
{
    /// <summary>Called once by <see cref="KdRuntime"/>'s static constructor (the first op of the process).</summary>
    internal static void Register() => OpenMpTeam.Resolver ??= Resolve;

    static nint Resolve()
        => string.Equals(Environment.GetEnvironmentVariable("GPUKD_CPU_THREADS"), "dotnet", StringComparison.OrdinalIgnoreCase)
            ? 0 : LibtorchCpu.Export("GOMP_parallel");
}
