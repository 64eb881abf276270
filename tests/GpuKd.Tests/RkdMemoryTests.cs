using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Tests;

/// <summary>
/// The angle loss's memory claim, measured: forward + backward at b = 384 must not grow the
/// process's peak resident set by anything near one b³ or b²·D tensor (the reference's
/// intermediates). CPU backend only: the ILGPU simulator is too slow at this size.
/// </summary>
public class RkdMemoryTests
{
    static long Status(string key) => long.Parse(File.ReadLines("/proc/self/status").First(l => l.StartsWith(key + ":"))
        .Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;

    static bool TryResetPeak()
    {
        try { File.WriteAllText("/proc/self/clear_refs", "5"); return true; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return false; }
    }

    [Test]
    public void Angle_loss_peak_memory_stays_far_below_one_b_cubed_tensor()
    {
        const long b = 384, d = 256;
        using var _ = gpukd.use_backend(KdBackend.Cpu);
        using var scope = NewDisposeScope();
        var s = Inputs.Randn([b, d], ScalarType.Float32, salt: 30);
        var t = Inputs.Randn([b, d], ScalarType.Float32, salt: 31);
        using (NewDisposeScope()) gpukd.functional.rkd_angle_loss(Inputs.Randn([8, 4]).requires_grad_(true), Inputs.Randn([8, 4])).backward();

        // Reset the peak-RSS mark (Linux ≥ 4.0). Where that is not allowed, the earlier peak of
        // this process bounds the baseline instead, which can only make the check more lenient.
        bool reset = TryResetPeak();
        long before = reset ? Status("VmRSS") : Math.Max(Status("VmRSS"), Status("VmHWM"));
        using (NewDisposeScope())
        {
            var leaf = s.detach().requires_grad_(true);
            gpukd.functional.rkd_angle_loss(leaf, t).backward();
            Assert.That(Tolerances.AllFinite(leaf.grad!), Is.True);
        }
        long grown = Status("VmHWM") - before;
        long cube = b * b * b * sizeof(float);      // 226 MB: one angle tensor of the reference
        long diffs = b * b * d * sizeof(float);     // 151 MB: one b×b×D difference tensor
        TestContext.Out.WriteLine($"peak growth {grown / 1e6:F1} MB (peak mark reset: {reset}) (b³ tensor {cube / 1e6:F0} MB, b²D tensor {diffs / 1e6:F0} MB)");
        // Expected ≈ 10 MB of b² tables and b×D copies, plus thread stacks and allocator slack.
        Assert.That(grown, Is.LessThan(Math.Min(cube, diffs) / 4), "O(b² + bD) memory: far below one b³ or b²D tensor");
    }
}
