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

    /// <summary>GPUKD_SOAK_ITERATIONS=n: the soak's iterations per op family, overriding both forms.</summary>
    public static int? Iterations => int.TryParse(Environment.GetEnvironmentVariable("GPUKD_SOAK_ITERATIONS"), out var n) && n > 0 ? n : null;

    /// <summary>GPUKD_SOAK_BACKEND=cpu|ilgpu: soak one backend only (the ILGPU simulator's full run takes hours).</summary>
    public const string BackendVariable = "GPUKD_SOAK_BACKEND";

    public static string? Only => Environment.GetEnvironmentVariable(BackendVariable)?.Trim() is { Length: > 0 } v ? v : null;
}
