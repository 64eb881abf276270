using GpuKd.Device;
using GpuKd.KernelBench;
using NUnit.Framework;

namespace GpuKd.Tests;

/// <summary>The GPU harness (bench/GpuKd.KernelBench) on ILGPU's CPU accelerator: its validation
/// of every op against the naive float64 references, its CSV, and its option errors. On a GPU
/// machine the same code runs with --accelerator cuda (bench/gpu/run.sh). The harness runs on the
/// suite's shared ILGPU CPU device, whose kernels the other fixtures have usually compiled already.</summary>
public class KernelBenchTests
{
    static GpuKd.Kernels.Ilgpu.IlgpuDevice Shared => KdRuntime.IlgpuCpu();

    [Test]
    public void HarnessValidatesEveryOpOnTheCpuAccelerator()
    {
        var log = new StringWriter();
        int rc = Harness.Run(Options.Parse(["--accelerator", "cpu", "--validate-only"]), log, Shared);
        string text = log.ToString();
        Assert.That(rc, Is.EqualTo(0), text);
        // 4 relation outputs + 5 losses × (value, gradient), each below the 1e-4 bar, and the exact-Gram check, for both product kernels.
        Assert.That(text.Split('\n').Count(l => l.TrimEnd().EndsWith("PASS")), Is.EqualTo(30), text);
        Assert.That(text, Does.Not.Contain("FAIL"));
    }

    [Test]
    public void HarnessWritesOneCsvRowPerMeasurement()
    {
        string csv = Path.Combine(Path.GetTempPath(), $"gpukd-kernelbench-{Guid.NewGuid():N}.csv");
        try
        {
            var log = new StringWriter();
            int rc = Harness.Run(Options.Parse(["--accelerator", "cpu", "--no-validate", "--ops", "gram,sp", "--batches", "8,12", "--widths", "8", "--csv", csv]), log, Shared);
            Assert.That(rc, Is.EqualTo(0), log.ToString());
            var lines = File.ReadAllLines(csv);
            Assert.That(lines[0], Is.EqualTo(Harness.CsvHeader));
            // gram: fwd at b = 8, 12; sp: fwd and fwd+bwd at b = 8, 12 (D = 8).
            Assert.That(lines.Skip(1).Select(l => string.Join(',', l.Split(',').Take(5))), Is.EqualTo(new[]
            {
                "gpukd,gram,fwd,8,8", "gpukd,gram,fwd,12,8",
                "gpukd,sp,fwd,8,8", "gpukd,sp,fwd+bwd,8,8", "gpukd,sp,fwd,12,8", "gpukd,sp,fwd+bwd,12,8",
            }));
            Assert.That(lines.Skip(1).Select(l => l.Split(',')[10]), Is.All.EqualTo("ok"));
            Assert.That(lines.Skip(1).Select(l => double.Parse(l.Split(',')[5], System.Globalization.CultureInfo.InvariantCulture)), Is.All.Positive);
        }
        finally { File.Delete(csv); }
    }

    [TestCase("--accelerator", "tpu")]
    [TestCase("--ops", "gram,nonsense")]
    [TestCase("--frobnicate")]
    [TestCase("--batches", "1")]
    [TestCase("--product", "cublas")]
    [TestCase("--validation-size", "9,6")]
    public void BadOptionsAreRejectedWithTheirName(params string[] args)
        => Assert.That(() => Options.Parse(args), Throws.ArgumentException.With.Message.Contains(args[^1] == "gram,nonsense" ? "nonsense" : args[^1]));
}
