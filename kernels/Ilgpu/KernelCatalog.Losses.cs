using System.Reflection;

namespace GpuKd.Kernels.Ilgpu;

public static partial class KernelCatalog
{
    /// <summary>The loss epilogue kernel classes (issue 4) and the structured-KD kernels (issue 5): every public static method of each is a kernel.</summary>
    public static readonly Type[] LossKernelTypes = [typeof(SpKernels), typeof(CcKernels), typeof(EdgeKernels), typeof(SkdKernels), typeof(ScalarKernels), typeof(NstKernels), typeof(PktKernels), typeof(FspKernels)];

    static void AddLossKernels(List<(string, MethodInfo, bool)> list, Type element)
    {
        foreach (var owner in LossKernelTypes)
            foreach (var m in owner.GetMethods(BindingFlags.Public | BindingFlags.Static).Select(m => m.Name).Distinct().Order())
                Add(list, owner, m, element, explicitlyGrouped: !owner.GetMethod(m)!.GetParameters()[0].ParameterType.Name.StartsWith("Index"));
    }
}
