namespace GpuKd.Tests;

/// <summary>
/// Base of every op test class: the suite is written once and runs on both backends, each
/// concrete class carrying <c>[TestFixture(KdBackend.Cpu)] [TestFixture(KdBackend.Ilgpu)]</c>.
/// Test bodies wrap themselves in <c>using var _ = UseBackend();</c> (the setting is per async
/// flow, so it must be set inside the test). The ILGPU backend runs on a CPU simulator here
/// (~1–2 ms per launch), so it gets its own, smaller size lists — explicit, never skipped.
/// </summary>
public abstract class BackendFixture(KdBackend backend)
{
    protected KdBackend Backend { get; } = backend;

    protected bool IsIlgpu => Backend == KdBackend.Ilgpu;

    protected IDisposable UseBackend() => gpukd.use_backend(Backend);

    /// <summary>Prefix for assertion messages: which backend, op and size failed.</summary>
    protected string Label(string op, params object[] what) => $"[{Backend}] {op} {string.Join(" ", what)}";

    /// <summary>
    /// Float64 gradient checks: 2 forward calls per input element. Cpu: every b ∈ {1,2,3,5,17} × D ∈ {1,3,33};
    /// Ilgpu: ≤ ~100 input elements each, still covering b = 1, 17 and D = 1, 33.
    /// </summary>
    protected (int B, int D)[] GradCheckSizes => IsIlgpu
        ? [(1, 3), (2, 33), (3, 1), (3, 33), (5, 3), (17, 3)]
        : [.. from b in new[] { 1, 2, 3, 5, 17 } from d in new[] { 1, 3, 33 } select (b, d)];

    /// <summary>
    /// Float64 parity with the reference: one forward and one backward per size, so cheap. D = 1000
    /// with b ≤ 3 on ILGPU too (b²D = 4000 multiply-adds): long feature loops are where tiling breaks.
    /// </summary>
    protected (int B, int D)[] ParitySizes => IsIlgpu
        ? [.. from b in new[] { 1, 2, 3, 5, 17 } from d in new[] { 1, 3, 33 } select (b, d), (1, 1000), (2, 1000)]
        : [.. from b in new[] { 1, 2, 3, 5, 17, 64 } from d in new[] { 1, 3, 33 } select (b, d), (1, 1000), (2, 1000), (3, 1000)];

    /// <summary>
    /// Float32 vs float64 oracle. D ≥ 3 and b ≥ 3: in 1-D cosines and angles are ±1 and with b = 2 the
    /// angles are constant, so their float32 gradient is pure round-off with nothing to be relative
    /// to (those sizes are covered in float64).
    /// </summary>
    protected (int B, int D)[] Float32Sizes => IsIlgpu
        ? [(3, 3), (5, 33), (17, 3), (17, 33), (3, 1000)]
        : [(3, 3), (5, 33), (17, 3), (17, 33), (64, 33), (3, 1000), (17, 1000)];

    /// <summary>Degenerate rows (duplicates, zeros): b ≥ 2 so that a row has a partner.</summary>
    protected (int B, int D)[] DegenerateRowSizes => IsIlgpu
        ? [(2, 1), (2, 3), (3, 3), (3, 33), (17, 3)]
        : [(2, 1), (2, 3), (3, 3), (3, 33), (17, 3), (17, 33), (64, 33)];

    /// <summary>One mid-size problem for layout, determinism and non-finite tests.</summary>
    protected (int B, int D) TypicalSize => IsIlgpu ? (5, 7) : (17, 33);
}
