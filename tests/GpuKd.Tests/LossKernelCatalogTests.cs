using GpuKd.Kernels.Maths;
using GpuKd.Kernels.Ilgpu;
using NUnit.Framework;

namespace GpuKd.Tests;

/// <summary>The loss epilogue kernels are in the catalog that <see cref="PtxCompileTests"/> compiles to PTX.</summary>
public class LossKernelCatalogTests
{
    [Test]
    public void Every_loss_kernel_is_catalogued_for_both_types()
    {
        var names = KernelCatalog.All().Select(k => k.Name).ToHashSet();
        var declared = KernelCatalog.LossKernelTypes
            .SelectMany(t => t.GetMethods(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static).Select(m => $"{t.Name}.{m.Name}"))
            .ToList();
        Assert.That(declared, Is.Not.Empty);
        foreach (var d in declared)
        {
            Assert.That(names, Does.Contain($"{d}<Single>"));
            Assert.That(names, Does.Contain($"{d}<Double>"));
        }
    }

    [Test]
    public void Every_cc_kernel_function_is_catalogued_for_both_epilogues_and_types()
    {
        var names = KernelCatalog.All().Select(k => k.Name).ToHashSet();
        Assert.That(KernelCatalog.CcFunctionTypes, Has.Length.EqualTo(3));
        foreach (var m in new[] { "LossRows", "Backward" })
            foreach (var f in KernelCatalog.CcFunctionTypes)
                foreach (var e in new[] { "Single", "Double" })
                    Assert.That(names, Does.Contain($"CcKernels.{m}<{e}, {f.Name[..f.Name.IndexOf('`')]}>"));
    }

    /// <summary>The structured-KD kernels are specialised by behaviour types (issue 13): every instantiation the programs
    /// launch (<c>K&lt;T&gt;.Skd*</c>) is in the catalog, and every SKD kernel method is.</summary>
    [Test]
    public void Every_skd_kernel_the_programs_launch_is_catalogued()
    {
        var names = KernelCatalog.All().Select(k => k.Name).ToHashSet();
        var launched = new[] { typeof(GpuKd.Kernels.Programs.K<float>), typeof(GpuKd.Kernels.Programs.K<double>) }
            .SelectMany(k => k.GetFields(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static))
            .Where(f => f.FieldType == typeof(GpuKd.Kernels.Launch.KernelId))
            .Select(f => ((GpuKd.Kernels.Launch.KernelId)f.GetValue(null)!).Name)
            .Where(n => n.StartsWith("SkdKernels.", StringComparison.Ordinal)).Distinct().ToList();
        Assert.That(launched, Has.Count.EqualTo(2 * 9), "nine SKD kernel ids per element type (pixel-wise 2, narrow, scale, nodes 2, the direct fallback 3)");
        foreach (var n in launched) Assert.That(names, Does.Contain(n));
        foreach (var m in typeof(SkdKernels).GetMethods(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static))
            Assert.That(names.Any(n => n.StartsWith($"SkdKernels.{m.Name}<", StringComparison.Ordinal)), m.Name);
    }
}

/// <summary>The kernels' software exp against Math.Exp.</summary>
public class KernelMathTests
{
    [Test]
    public void Exp_is_within_a_few_ulp()
    {
        foreach (var x in new[] { 0.0, 1e-300, -1e-8, 0.3, -0.5, 0.51, -1.6, 1.0, 2.5, -4.0, -40, 50, -700 })
        {
            double e = GpuKd.Kernels.Maths.KernelMath.Exp(x), want = Math.Exp(x);
            double ulps = Math.Abs(x) <= 4 ? 8 : 2048;   // ≈ 2^m ulp after m halvings
            Assert.That(Math.Abs(e - want) / want, Is.LessThanOrEqualTo(ulps * 1.1e-16), $"exp({x})");
            float f = GpuKd.Kernels.Maths.KernelMath.Exp((float)x), wantF = MathF.Exp((float)x);
            if (Math.Abs(x) <= 4)
                Assert.That(Math.Abs(f - wantF) / wantF, Is.LessThanOrEqualTo(8 * 6e-8), $"expf({x})");
        }
        Assert.That(double.IsNaN(GpuKd.Kernels.Maths.KernelMath.Exp(double.NaN)));
        Assert.That(GpuKd.Kernels.Maths.KernelMath.Exp(double.NegativeInfinity), Is.EqualTo(0.0));
        Assert.That(GpuKd.Kernels.Maths.KernelMath.Exp(double.PositiveInfinity), Is.EqualTo(double.PositiveInfinity));
    }
}
