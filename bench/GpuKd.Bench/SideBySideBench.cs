using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;

namespace GpuKd.Bench;

/// <summary>
/// The four benchmarks every class of the suite has: the reference composition and GpuKd, each as a
/// forward (category "forward") and a forward + backward (category "forward+backward"). Each category has
/// its own reference baseline, so BenchmarkDotNet's Ratio column is GpuKd / reference within a category;
/// the class names make the suite <c>--filter</c>-able (<c>'*SpLoss*'</c>), the categories
/// <c>--anyCategories forward</c>-able.
/// </summary>
[MemoryDiagnoser, CategoriesColumn, GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
public abstract class SideBySideBench
{
    /// <summary>One call on the benchmark's inputs: the reference (<paramref name="fused"/> false) or GpuKd,
    /// with its backward when <paramref name="backward"/>; everything it allocates is disposed before it returns.</summary>
    protected abstract void Run(bool fused, bool backward);

    [Benchmark(Baseline = true, Description = "reference"), BenchmarkCategory(Category.Forward)]
    public void ReferenceForward() => Run(fused: false, backward: false);

    [Benchmark(Description = "GpuKd"), BenchmarkCategory(Category.Forward)]
    public void GpuKdForward() => Run(fused: true, backward: false);

    [Benchmark(Baseline = true, Description = "reference"), BenchmarkCategory(Category.ForwardBackward)]
    public void ReferenceForwardBackward() => Run(fused: false, backward: true);

    [Benchmark(Description = "GpuKd"), BenchmarkCategory(Category.ForwardBackward)]
    public void GpuKdForwardBackward() => Run(fused: true, backward: true);
}

/// <summary>The two benchmark categories.</summary>
public static class Category
{
    public const string Forward = "forward";
    public const string ForwardBackward = "forward+backward";
}
