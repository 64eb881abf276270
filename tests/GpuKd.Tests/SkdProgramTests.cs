using GpuKd.Device;
using GpuKd.Kernels.Ilgpu;
using GpuKd.Kernels.Launch;
using GpuKd.Kernels.Programs;
using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Tests;

/// <summary>
/// Issue 13, structured KD as programs (<see cref="SkdPrograms{T}"/>), on ILGPU's CPU accelerator behind a recording
/// device: a float32 input is read in place in float32 by the kernels (no float64 copy of the logits or maps reaches a
/// kernel), the values still match the CPU fast path, and every buffer a program is given is checked before anything
/// launches.
/// </summary>
[NonParallelizable]
public sealed class SkdProgramTests
{
    /// <summary>Records every launch (kernel and arguments), then runs it on the inner device.</summary>
    sealed class RecordingKdDevice(IKdDevice inner) : IKdDevice
    {
        public readonly List<(KernelId Kernel, object[] Args)> Launches = new();
        public DeviceTraits Traits => inner.Traits;
        public Buf<T> Alloc<T>(long count) where T : unmanaged => inner.Alloc<T>(count);
        public void Launch(KernelId kernel, LaunchShape shape, params object[] args) { Launches.Add((kernel, args)); inner.Launch(kernel, shape, args); }
        public IDisposable Sequence() => inner.Sequence();
    }

    /// <summary>Runs <paramref name="body"/> with every op's programs on a recording device over the simulator.</summary>
    static RecordingKdDevice Recorded(Action body)
    {
        var ilgpu = KdRuntime.IlgpuCpu();
        using var sim = new IlgpuAcceleratorDevice(ilgpu.Accelerator, ilgpu.Gate);
        var rec = new RecordingKdDevice(sim);
        KdRuntime.Override.Value = new TorchDevice(rec, new torch.Device(DeviceType.CPU));
        try { body(); }
        finally { KdRuntime.Override.Value = null; }
        return rec;
    }

    /// <summary>Address of a fresh contiguous float32 tensor's first element (storage offset 0).</summary>
    static nint Ptr(Tensor x) => (nint)x.storage<float>().data_ptr();

    /// <summary>f(s, t) and both gradients, on s and t themselves (leaves: their memory is what the kernels must read).</summary>
    static (Tensor Value, Tensor GradS, Tensor GradT) OnLeaves(Func<Tensor, Tensor, Tensor> f, Tensor s, Tensor t)
    {
        s.requires_grad_(true);
        t.requires_grad_(true);
        var value = f(s, t);
        value.backward();
        return (value.detach(), s.grad!.detach().clone(), t.grad!.detach().clone());
    }

    static bool Inside(IBuf b, Tensor x) => b.Ptr >= Ptr(x) && b.Ptr + b.Length * b.ElementSize <= Ptr(x) + x.numel() * x.element_size();

    [Test]
    public void Float32_pixelwise_reads_the_logits_in_place([Values] SkdPixelwise mode)
    {
        using var scope = NewDisposeScope();
        long b = 2, k = 19, p = 17 * 15;
        var t = (3 * Inputs.Randn([b, k, 17, 15], salt: 41)).to(ScalarType.Float32);
        var s = Inputs.Perturbed(t, 0.05);
        Tensor F(Tensor x, Tensor y) => gpukd.functional.skd_pixelwise_loss(x, y, 2.0, mode);
        (Tensor Value, Tensor GradS, Tensor GradT) onDevice = default;
        var rec = Recorded(() => onDevice = OnLeaves(F, s, t));
        (Tensor, Tensor, Tensor) cpu;
        using (gpukd.use_backend(KdBackend.Cpu)) cpu = SkdCases.ValueAndGrads(F, s.detach(), t.detach());

        var pass = rec.Launches.Where(l => l.Kernel.Name.StartsWith("SkdKernels.Pixelwise<Single, SingleWiden", StringComparison.Ordinal)).ToList();
        Assert.That(pass, Has.Count.EqualTo(1), "one fused pass, specialised for float32 and the mode");
        Assert.That(pass[0].Kernel.Name, Does.EndWith(mode == SkdPixelwise.TemperatureKl ? "TemperatureKl>" : "CrossEntropy>"));
        var args = pass[0].Args;
        Assert.That(args[0], Is.TypeOf<Buf<float>>().And.Property("Ptr").EqualTo(Ptr(s)), "the student's float32 logits, in place");
        Assert.That(args[1], Is.TypeOf<Buf<float>>().And.Property("Ptr").EqualTo(Ptr(t)), "the teacher's float32 logits, in place");
        Assert.That(args[2], Is.TypeOf<Buf<float>>().And.Property("Length").EqualTo(b * k * p), "the student's gradient, float32");
        Assert.That(args[3], Is.TypeOf<Buf<float>>().And.Property("Length").EqualTo(b * k * p), "the teacher's gradient, float32");
        // Nothing of the logits' size in float64 anywhere: the only float64 buffers are the B·P terms and the total's.
        long widest = rec.Launches.SelectMany(l => l.Args).OfType<Buf<double>>().Select(x => x.Length).DefaultIfEmpty(0).Max();
        Assert.That(widest, Is.EqualTo(b * p), "largest float64 buffer: the per-pixel terms");
        Assert.That(onDevice.Value!.dtype, Is.EqualTo(ScalarType.Float32));
        Assert.That(onDevice.GradS!.dtype, Is.EqualTo(ScalarType.Float32));
        // Same float64 maths as the CPU kernel (which takes its cross-entropy exps in float32): the float32 bar.
        SkdCases.AssertSame(onDevice, cpu, mode == SkdPixelwise.CrossEntropy ? Tolerances.Float32Bar : 1e-6, $"skd_pixelwise_loss float32 program vs Cpu {mode}");
    }

    [Test]
    public void Float32_pairwise_nodes_read_the_maps_in_place([Values(SkdPool.None, SkdPool.Max)] SkdPool pool)
    {
        using var scope = NewDisposeScope();
        var s = Inputs.Randn([2, 16, 9, 8], ScalarType.Float32, salt: 42);
        var t = Inputs.Randn([2, 20, 9, 8], ScalarType.Float32, salt: 43);
        Tensor F(Tensor x, Tensor y) => gpukd.functional.skd_pairwise_loss(x, y, pool: pool);
        (Tensor Value, Tensor GradS, Tensor GradT) onDevice = default;
        var rec = Recorded(() => onDevice = OnLeaves(F, s, t));
        (Tensor, Tensor, Tensor) cpu;
        using (gpukd.use_backend(KdBackend.Cpu)) cpu = SkdCases.ValueAndGrads(F, s.detach(), t.detach());

        var nodes = rec.Launches.Where(l => l.Kernel.Name.StartsWith("SkdKernels.Nodes<", StringComparison.Ordinal)).ToList();
        Assert.That(nodes, Is.Not.Empty);
        Assert.That(rec.Launches.Count, Is.EqualTo(nodes.Count), "the node normalisation is the only program of the pair-wise loss");
        foreach (var (kernel, args) in nodes)
        {
            Assert.That(kernel.Name, Does.StartWith("SkdKernels.Nodes<Single, SingleWiden, "), "float32 maps are read as float32");
            if (pool == SkdPool.None)   // unpooled: the maps themselves (pooled: libtorch's pooled maps)
                Assert.That(Inside((IBuf)args[0], s) || Inside((IBuf)args[0], t), Is.True, "the kernel reads the input's own memory");
        }
        SkdCases.AssertSame(onDevice, cpu, 1e-6, $"skd_pairwise_loss float32 program vs Cpu {pool}");
    }

    /// <summary>A device that must never be reached.</summary>
    sealed class Unreachable : IKdDevice
    {
        public DeviceTraits Traits => DeviceTraits.CpuSimulator;
        public Buf<T> Alloc<T>(long count) where T : unmanaged => throw new AssertionException("allocated before the checks");
        public void Launch(KernelId kernel, LaunchShape shape, params object[] args) => throw new AssertionException($"{kernel} launched before the checks");
        public IDisposable Sequence() => throw new AssertionException("sequence opened");
    }

    [Test]
    public void Programs_check_every_buffer_before_launching()
    {
        var dev = new Unreachable();
        const int B = 2, K = 3, P = 5;
        Buf<float> Of(long n) => new(0x1000, n);
        Buf<float> full = Of(B * K * P), none = default;
        void Short(string name, Action launch) =>
            Assert.That(() => launch(), Throws.ArgumentException.With.Property("ParamName").EqualTo(name).And.Message.Contains("needed"), name);

        Short("zs", () => SkdPrograms<float>.Pixelwise(dev, false, Of(B * K * P - 1), full, full, full, Of(1), false, B, K, P, 1, 1));
        Short("zt", () => SkdPrograms<float>.Pixelwise(dev, true, full, Of(1), none, none, Of(1), false, B, K, P, 1, 1));
        Short("gs", () => SkdPrograms<float>.Pixelwise(dev, false, full, full, Of(3), none, Of(1), false, B, K, P, 1, 1));
        Short("gt", () => SkdPrograms<float>.Pixelwise(dev, false, full, full, none, Of(B * K * P - 1), Of(1), false, B, K, P, 1, 1));
        Short("loss", () => SkdPrograms<float>.Pixelwise(dev, false, full, full, none, none, Of(B * P - 1), true, B, K, P, 1, 1));
        Short("loss", () => SkdPrograms<float>.Pixelwise(dev, false, full, full, none, none, none, false, B, K, P, 1, 1));
        Short("g", () => SkdPrograms<float>.PixelwiseBackward(dev, Of(2), Of(1), full, B, K, P));
        Short("upstream", () => SkdPrograms<float>.PixelwiseBackward(dev, full, Of(2), full, B, K, P));
        Short("result", () => SkdPrograms<float>.PixelwiseBackward(dev, full, Of(1), Of(4), B, K, P));
        Short("x", () => SkdPrograms<float>.Nodes(dev, Of(B * K * P - 1), new Buf<double>(0x1000, B * K * 2), new Buf<double>(0x1000, B * 2), B, K, P, 3, 2, true, 1e-8));
        Short("hat", () => SkdPrograms<float>.Nodes(dev, full, new Buf<float>(0x1000, B * K * 2 - 1), new Buf<double>(0x1000, B * 2), B, K, P, 3, 2, true, 1e-8));
        Short("norm", () => SkdPrograms<float>.Nodes(dev, full, new Buf<double>(0x1000, B * K * 2), new Buf<double>(0x1000, B * 2 - 1), B, K, P, 3, 2, false, 1e-12));
        Assert.That(() => SkdPrograms<float>.Nodes(dev, full, new Buf<double>(0x1000, B * K * 2), new Buf<double>(0x1000, B * 2), B, K, P, 4, 2, true, 1e-8),
                    Throws.ArgumentException.With.Property("ParamName").EqualTo("p0"), "columns past the row");
        Assert.That(() => SkdPrograms<float>.Pixelwise(dev, false, full, full, none, none, Of(1), false, B, 0, P, 1, 1),
                    Throws.ArgumentException.With.Property("ParamName").EqualTo("k"), "no classes");
    }
}
