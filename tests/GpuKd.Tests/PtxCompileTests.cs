using GpuKd.Kernels.Ilgpu;
using ILGPU;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using NUnit.Framework;

namespace GpuKd.Tests;

/// <summary>
/// Every ILGPU kernel must build for CUDA, not only run on the CPU simulator: compile each
/// entry point to PTX for Hopper (sm_90) with ILGPU's own PTX backend, which needs no GPU.
/// </summary>
public class PtxCompileTests
{
    public static IEnumerable<TestCaseData> Kernels()
        => KernelCatalog.All().Select(k => new TestCaseData(k.Name).SetName($"CompilesToPtx({k.Name})"));

    [TestCaseSource(nameof(Kernels))]
    public void CompilesToPtx(string name)
    {
        string ptx = Compile(name);
        // ILGPU 1.5.3 asked for SM_90 writes `.target sm_80` PTX (its newest target);
        // the driver JIT-compiles that forward for Hopper, so any sm target is accepted.
        Assert.That(ptx, Does.Match(@"\.target sm_[89]\d"));
        Assert.That(ptx, Does.Contain(".entry"));
        // PTX's floating-point max/min return the other operand when one is NaN (only the `.NaN` variants
        // propagate), so a clamp or max written with T.Max/Math.Max turns a NaN into a finite number on CUDA alone
        // (the CPU accelerator runs .NET's NaN-propagating method): kernels write them as comparisons
        // (KernelMath.MaxNaN / AtLeast).
        Assert.That(ptx, Does.Not.Match(@"\b(max|min)(\.ftz)?\.f(32|64)\b"), "a NaN-dropping PTX max/min");
    }

    static string Compile(string name)
    {
        var kernel = KernelCatalog.All().Single(k => k.Name == name);
        // A failed compile poisons its context (DESIGN §6): one context per kernel.
        using var context = Context.Create(b => b.Optimize(OptimizationLevel.O1));
        using var backend = new PTXBackend(context, CudaArchitecture.SM_90, CudaInstructionSet.ISA_80, null!);
        var entry = kernel.ExplicitlyGrouped
            ? EntryPointDescription.FromExplicitlyGroupedKernel(kernel.Method)
            : EntryPointDescription.FromImplicitlyGroupedKernel(kernel.Method);
        return ((PTXCompiledKernel)backend.Compile(entry, KernelSpecialization.Empty)).PTXAssembly;
    }

    [Test]
    public void CatalogListsEveryKernelForBothTypes()
    {
        var names = KernelCatalog.All().Select(k => k.Name).ToList();
        Assert.That(names, Is.Unique);
        Assert.That(names.Count(n => n.EndsWith("<Single>")), Is.EqualTo(names.Count(n => n.EndsWith("<Double>"))));
        // Each public static kernel method of the kernel classes is in the catalog.
        var declared = new[] { typeof(MatMulKernel), typeof(MatMulTiledKernel), typeof(RowKernels), typeof(DistanceKernels), typeof(DistanceLossKernels), typeof(AngleKernels) }
            .SelectMany(t => t.GetMethods(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static)
                .Select(m => $"{t.Name}.{m.Name}<Single>"));
        foreach (var kernel in declared)   // a kernel specialised by behaviour types appears once per behaviour: "RowPass<Single, FromLoss>"
            Assert.That(names.Any(n => n == kernel || n.StartsWith(kernel[..^1] + ", ", StringComparison.Ordinal)), kernel);
    }
}
