namespace GpuKd.Tests;

/// <summary>
/// GPUKD_SOAK=full runs the long forms of the soak and concurrency tests (10 000 iterations per op family, 200 per
/// ILGPU thread): <c>GPUKD_SOAK=full dotnet test tests/GpuKd.Tests --filter Category=Soak</c>. Unset, the suite runs
/// the reduced forms (seconds).
/// </summary>
public static class SoakSettings
{
    public const string Variable = "GPUKD_SOAK";

    public static bool Full => Environment.GetEnvironmentVariable(Variable)?.Trim().ToLowerInvariant() == "full";
}
