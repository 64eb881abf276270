using GpuKd.Kernels.Ilgpu;
using GpuKd.Kernels.Launch;
using GpuKd.Kernels.Launch.Cuda;
using ILGPU;
using ILGPU.Runtime.Cuda;
using NUnit.Framework;

namespace GpuKd.Tests.Launch;

/// <summary>
/// The CUDA path passes arguments as one packed buffer laid out by the PTX entry ILGPU emitted. For every kernel
/// of the library (both element types) the .NET signature must map onto that entry one to one: the implicitly
/// grouped kernels' leading extent, a view as {pointer, int64 length} (16 bytes, 8-aligned), scalars and structs
/// at their own sizes — and the packer must accept a launch of each.
/// </summary>
public class ArgumentLayoutTests
{
    public static IEnumerable<TestCaseData> Kernels()
        => KernelCatalog.All().Select(k => new TestCaseData(k.Name).SetName($"PackedLayoutMatchesPtxEntry({k.Name})"));

    static KernelId Id(string name)
    {
        var k = KernelCatalog.All().Single(k => k.Name == name);
        var owner = k.Method.DeclaringType!;
        var ta = k.Method.GetGenericArguments();
        return ta.Length == 0 ? KernelId.Of(owner, k.Method.Name, typeof(float)) : KernelId.Of(owner, k.Method.Name, ta[0], ta[1..]);
    }

    [TestCaseSource(nameof(Kernels))]
    public void PackedLayoutMatchesPtxEntry(string name)
    {
        var kernel = Id(name);
        var entry = PtxCache.Get(kernel, CudaArchitecture.SM_90).Entry;
        var ps = kernel.Method.GetParameters().Select(p => p.ParameterType).ToArray();
        Assert.That(entry.Params, Has.Count.EqualTo(ps.Length), $"{name}: parameter count");
        for (int i = 0; i < ps.Length; i++)
        {
            Assert.That(entry.Params[i].Size, Is.EqualTo(ArgPacker.SizeOf(ps[i])), $"{name}: size of parameter {i} ({ps[i].Name})");
            bool view = ps[i].IsGenericType && ps[i].GetGenericTypeDefinition() == typeof(ArrayView<>);
            if (view) Assert.That(entry.Params[i].Align, Is.EqualTo(8), $"{name}: a view is 8-aligned");
        }

        // A launch of it packs: one dummy of each argument type.
        var args = kernel.Arguments.Select(Dummy).ToArray();
        var shape = kernel.ExplicitlyGrouped ? LaunchShape.Groups(1, 1, 1, 32, 1, 128)
                  : kernel.IndexType == typeof(Index1D) ? LaunchShape.Extent1(7) : LaunchShape.Extent2(7, 5);
        var packed = ArgPacker.Pack(kernel, entry, shape, args);
        Assert.That(packed, Has.Length.EqualTo(entry.BufferSize));
        if (!kernel.ExplicitlyGrouped) Assert.That(BitConverter.ToInt32(packed, 0), Is.EqualTo(7), $"{name}: the extent leads");
    }

    static object Dummy(Type t)
    {
        if (t.IsGenericType && t.GetGenericTypeDefinition() == typeof(ArrayView<>))
            return Activator.CreateInstance(typeof(Buf<>).MakeGenericType(t.GetGenericArguments()[0]), (nint)0x1000, 4L)!;
        return Activator.CreateInstance(t)!;
    }

    [Test]
    public void ViewIsPointerThenInt64Length()
    {
        var kernel = KernelId.Of(typeof(ScalarKernels), nameof(ScalarKernels.ScaleBy), typeof(float));
        var entry = PtxCache.Get(kernel, CudaArchitecture.SM_90).Entry;
        var packed = ArgPacker.Pack(kernel, entry, LaunchShape.Extent1(3), [new Buf<float>(unchecked((nint)0x1234_5678_9ABC), 3), new Buf<float>(0x42, 1)]);
        Assert.That(BitConverter.ToInt32(packed, 0), Is.EqualTo(3));
        Assert.That(BitConverter.ToInt64(packed, 8), Is.EqualTo(0x1234_5678_9ABC));
        Assert.That(BitConverter.ToInt64(packed, 16), Is.EqualTo(3));
        Assert.That(BitConverter.ToInt64(packed, 24), Is.EqualTo(0x42));
    }

    [Test]
    public void WrongArgumentsAreRefusedBeforeLaunch()
    {
        var kernel = KernelId.Of(typeof(RowKernels), nameof(RowKernels.ScaleRows), typeof(float));
        var b = new Buf<float>(0x1000, 4);
        Assert.That(() => kernel.Check(LaunchShape.Extent1(4), [b, b, b, 4]), Throws.ArgumentException.With.Message.Contains("4 arguments given"));
        Assert.That(() => kernel.Check(LaunchShape.Extent1(4), [b, b, b, 4, 1e-12]), Throws.ArgumentException.With.Message.Contains("Double"));
        Assert.That(() => kernel.Check(LaunchShape.Extent1(4), [b, new Buf<double>(0x1000, 4), b, 4, 1e-12f]), Throws.ArgumentException.With.Message.Contains("argument 1"));
        Assert.That(() => kernel.Check(LaunchShape.Groups(1, 1, 1, 4, 1, 0), [b, b, b, 4, 1e-12f]), Throws.ArgumentException.With.Message.Contains("implicitly grouped"));
        Assert.That(() => kernel.Check(LaunchShape.Extent1(4), [b, b, b, 4, 1e-12f]), Throws.Nothing);
    }

    [Test]
    public void PtxEntryParsesIlgpuParameterForms()
    {
        var e = PtxEntry.Parse(".visible .entry Kernel_X(\n\t.param .b32 _i_1,\n\t.param .align 8 .b8 _x_2[16],\n\t.param .f64 _e_3,\n\t.param .align 4 .b8 _a_4[40]\n)\n{ }");
        Assert.That(e.Name, Is.EqualTo("Kernel_X"));
        Assert.That(e.Params.Select(p => (p.Size, p.Align)), Is.EqualTo(new[] { (4, 4), (16, 8), (8, 8), (40, 4) }));
        Assert.That(e.BufferSize, Is.EqualTo(4 + 4 + 16 + 8 + 40));
    }
}
