using GpuKd.Kernels.Maths;
using System.Reflection;
using GpuKd.Kernels.Ilgpu;
using ILGPU;
using ILGPU.Runtime;
using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Tests;

/// <summary>
/// Issue 8 process safety: nothing a caller passes may reach an ILGPU kernel in a form that can take the process down.
/// (1) Every public launcher checks, on the host and before launching, that each view it is given is long enough for
/// the sizes it is told — an out-of-range index inside a kernel is not an exception but a wild read or write (on
/// CUDA an unrecoverable context error). Found by reflection, so a new launcher is covered without a new row.
/// (2) A kernel that fails to compile throws an ordinary exception and leaves the device usable: other kernels still
/// compile and run on the same context afterwards.
/// </summary>
public sealed class ProcessSafetyTests
{
    const int N = 4;
    const int Big = 4096;

    static IEnumerable<(object Target, MethodInfo Method)> Launchers(IlgpuDevice device)
    {
        object[] targets = [device.For<float>()];
        foreach (var t in targets)
        foreach (var m in t.GetType().GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.DeclaredOnly))
            if (m.GetParameters().Any(p => p.ParameterType == typeof(ArrayView<float>)))
                yield return (t, m);
    }

    /// <summary>An argument that is valid for sizes n = d = batch = rows = 4: views of 4096 elements (n³ = 64).</summary>
    static object Arg(ParameterInfo parameter, ArrayView<float> big)
    {
        var type = parameter.ParameterType;
        if (type == typeof(ArrayView<float>)) return big;
        if (type == typeof(int)) return N;
        if (type == typeof(long)) return parameter.Name == "p0" ? 0L : (long)N;   // an offset, or a size/stride
        if (type == typeof(float)) return 1f;
        if (type == typeof(bool)) return false;
        if (type == typeof(EdgeArgs<float>)) return new EdgeArgs<float> { N = N, DSelf = N, DOther = N, Clamp = 1e-12f, Tau = 1e-3f, Scale = 1 };
        throw new NotSupportedException($"no test value for a launcher parameter of type {type}: add one here");
    }

    [Test]
    public void Every_launcher_rejects_a_short_view_before_launching()
    {
        using var device = IlgpuDevice.Create(forceCpu: true);
        using var buffer = device.Accelerator.Allocate1D<float>(Big);
        // The short view lies inside the big buffer: should a launcher fail to check it, the kernel's reads and writes
        // past its end still land in this test's own allocation, and the test fails instead of corrupting memory.
        ArrayView<float> big = buffer.View, shortView = buffer.View.SubView(0, 1);
        var unchecked_ = new List<string>();
        int checkedViews = 0;
        foreach (var (target, method) in Launchers(device))
        {
            var ps = method.GetParameters();
            for (int k = 0; k < ps.Length; k++)
            {
                if (ps[k].ParameterType != typeof(ArrayView<float>)) continue;
                var args = ps.Select(p => Arg(p, big)).ToArray();
                args[k] = shortView;
                try
                {
                    method.Invoke(target, args);
                    unchecked_.Add($"{method.DeclaringType!.Name}.{method.Name}({ps[k].Name})");
                }
                catch (TargetInvocationException e) when (e.InnerException is ArgumentException a && a.Message.Contains("needed"))
                {
                    checkedViews++;
                }
            }
        }
        Assert.That(unchecked_, Is.Empty, "launched with a 1-element view where more is needed");
        // The SP, CC, IRG-edge and structured-KD epilogues run as programs (issue 13), which check every buffer with
        // Buf.Need (SkdProgramTests.Programs_check_every_buffer_before_launching); what is left are the relation primitives.
        Assert.That(checkedViews, Is.GreaterThan(15), "the reflection found the launchers");   // 19 views in the relation primitives (IlgpuLaunchers)
    }

    /// <summary>Allocates a managed object: ILGPU refuses to compile it (no GC on a device).</summary>
    static void Uncompilable(Index1D i, ArrayView<float> v) => v[i] = new object().GetHashCode();

    [Test]
    public void A_failed_kernel_compile_throws_and_leaves_the_device_usable()
    {
        using var device = IlgpuDevice.Create(forceCpu: true);
        Assert.That(() => device.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>>(Uncompilable),
                    Throws.InstanceOf<Exception>().And.Not.InstanceOf<AccessViolationException>());
        // A kernel not compiled before the failure compiles and runs right on the same context.
        using var scope = NewDisposeScope();
        var x = randn(5, 3);
        var g = zeros(5, 5);
        using var xs = device.Accelerator.Allocate1D(x.data<float>().ToArray());
        using var gs = device.Accelerator.Allocate1D<float>(25);
        lock (device.Gate) device.For<float>().Gram(xs.View, gs.View, 1, 5, 3);
        device.Accelerator.Synchronize();
        var result = tensor(gs.GetAsArray1D(), [5, 5]);
        Assert.That(allclose(result, x.mm(x.t()), rtol: 1e-5, atol: 1e-5), Is.True, "Gram after the failed compile");
    }
}
