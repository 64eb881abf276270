using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Tests.Launch;

/// <summary>
/// Every public op of the hardening table (<see cref="PublicOps"/>) on CUDA tensors, when this process has a CUDA
/// TorchSharp (a CUDA libtorch and a GPU): float64 value and gradient equal to the CPU fast path's on the same inputs,
/// the float64 finite-difference gradient check on the GPU, results on the input's device, and the same inputs twice
/// giving the same bits. Without CUDA every case is skipped with a one-line reason, so the same suite runs unedited
/// on a GPU build. (No CUDA TorchSharp is served to the development machines; the CUDA path is exercised here by
/// the recording-driver tests, <see cref="CudaPathTests"/>.)
/// </summary>
[NonParallelizable]
public class CudaFixtureTests
{
    static bool HasCuda()
    {
        try { return cuda.is_available(); }
        catch (Exception) { return false; }
    }

    static void RequireCuda()
    {
        if (!HasCuda()) Assert.Ignore("no CUDA TorchSharp in this process (CPU libtorch): the CUDA fixture runs on a GPU build");
    }

    public static IEnumerable<TestCaseData> Ops() => PublicOps.Names.Select(n => new TestCaseData(n).SetName($"CudaMatchesCpu({n})"));

    [TestCaseSource(nameof(Ops))]
    public void CudaMatchesCpu(string name)
    {
        RequireCuda();
        var op = PublicOps.Get(name);
        using var scope = NewDisposeScope();
        var cpuIn = op.Inputs(5).Select(t => t.requires_grad_()).ToArray();
        var gpuIn = cpuIn.Select(t => t.detach().cuda().requires_grad_()).ToArray();
        var yc = op.Call(cpuIn);
        var yg = op.Call(gpuIn);
        Assert.That(yg.device_type, Is.EqualTo(DeviceType.CUDA), $"{name}: the result stays on the GPU");
        var w = randn_like(yc);
        (yc * w).sum().backward();
        (yg * w.cuda()).sum().backward();
        Assert.That(yg.cpu().allclose(yc, rtol: 1e-10, atol: 1e-12), $"{name}: value on CUDA = value on the CPU fast path");
        for (int i = 0; i < cpuIn.Length; i++)
            Assert.That(gpuIn[i].grad!.cpu().allclose(cpuIn[i].grad!, rtol: 1e-9, atol: 1e-12), $"{name}: gradient of {op.Args[i]}");
    }

    public static IEnumerable<TestCaseData> GradOps() => PublicOps.Names.Select(n => new TestCaseData(n).SetName($"GradcheckOnCuda({n})"));

    [TestCaseSource(nameof(GradOps))]
    public void GradcheckOnCuda(string name)
    {
        RequireCuda();
        var op = PublicOps.Get(name);
        using var scope = NewDisposeScope();
        GradCheck.Check($"cuda {name}", op.Call, [.. op.Inputs(3).Select(t => t.cuda())]);
    }

    public static IEnumerable<TestCaseData> RepeatOps() => PublicOps.Names.Select(n => new TestCaseData(n).SetName($"RepeatsAreBitIdenticalOnCuda({n})"));

    [TestCaseSource(nameof(RepeatOps))]
    public void RepeatsAreBitIdenticalOnCuda(string name)
    {
        RequireCuda();
        var op = PublicOps.Get(name);
        using var scope = NewDisposeScope();
        var x = op.Inputs(9, ScalarType.Float32).Select(t => t.cuda()).ToArray();
        var a = op.Call(x).cpu();
        var b = op.Call(x).cpu();
        Assert.That(a.equal(b).item<bool>(), $"{name}: the same inputs twice give the same bits");
    }
}
