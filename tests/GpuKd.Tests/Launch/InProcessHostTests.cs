using System.Diagnostics;
using NUnit.Framework;

namespace GpuKd.Tests.Launch;

/// <summary>
/// The in-process host of issue 14 (bench/gpu: the .NET runtime loaded into a Python process through hostfxr, the op
/// programs called through [UnmanagedCallersOnly] entry points): its self-test runs the programs on ILGPU's CPU
/// simulator over ctypes arrays and checks every forward against plain-Python references and every backward against
/// central differences: gram, pdist, the RKD losses, SP, CC (Taylor, RBF, raw), the IRG edge loss (max differentiated and
/// held), ICKD, NST, PKT, DIST, FSP, the structured-KD pixel-wise loss (CE, KL) and the pair-wise loss's direct fallback, plus refused bad options and short buffers. Needs python3 (skipped without it); the GPU run itself is bench/gpu/inprocess.py.
/// </summary>
public class InProcessHostTests
{
    [Test]
    public void PythonLoadsTheRuntimeAndRunsThePrograms()
    {
        var root = AppContext.BaseDirectory;
        while (root is not null && !File.Exists(Path.Combine(root, "GpuKd.sln"))) root = Path.GetDirectoryName(root);
        Assert.That(root, Is.Not.Null, "repository root (GpuKd.sln) above the test output");
        var config = AppContext.BaseDirectory.Contains("/Release/") ? "Release" : "Debug";
        var dll = Path.Combine(root!, "bench", "GpuKd.KernelBench", "bin", config, "net10.0", "GpuKd.KernelBench.dll");
        Assert.That(File.Exists(dll), $"{dll} not built (the test project references the harness, so building the tests builds it)");
        var script = Path.Combine(root!, "bench", "gpu", "inprocess_selftest.py");
        ProcessStartInfo start = new("python3", [script, dll]) { RedirectStandardOutput = true, RedirectStandardError = true };
        Process? p;
        try { p = Process.Start(start); }
        catch (System.ComponentModel.Win32Exception) { Assert.Ignore("python3 not found: the in-process host self-test needs it"); return; }
        if (p is null) { Assert.Ignore("python3 could not be started"); return; }
        using var _ = p;
        var output = p.StandardOutput.ReadToEndAsync();
        var errors = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(180_000)) { p.Kill(true); Assert.Fail("self-test timed out"); }
        TestContext.Out.WriteLine(output.Result + errors.Result);
        Assert.That(p.ExitCode, Is.Zero, output.Result + errors.Result);
        Assert.That(output.Result, Does.Contain("55 passed, 0 failed"));
        // Every exported loss program ran, both dtypes where the float32 path is a different program (the widened SP, CC, edge).
        foreach (var op in new[] { "sp float64", "sp float32", "cc taylor float64", "cc rbf float32", "cc raw float64", "cc raw float32",
                                   "irg_edge max differentiated float64", "irg_edge max held float32", "ickd mean", "ickd sum", "nst float64",
                                   "pkt float64", "skd_pixelwise ce", "skd_pixelwise kl", "skd_direct flag 1", "skd_direct flag 0", "dist float64", "fsp float64" })
        {
            Assert.That(output.Result, Does.Contain($"  {op} "), $"{op}: no self-test case ran");
        }
    }
}
