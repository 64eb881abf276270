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
}
