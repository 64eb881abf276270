using System.Reflection;

namespace GpuKd.Kernels.Ilgpu;

public static partial class KernelCatalog
{
    /// <summary>The loss epilogue kernel classes (issue 4): every public static method of each is a kernel (CC's epilogues, specialised by
    /// the kernel function, and the structured-KD kernels, specialised by behaviour types, are listed on their own).</summary>
    public static readonly Type[] LossKernelTypes = [typeof(SpKernels), typeof(EdgeKernels), typeof(ScalarKernels), typeof(NstKernels), typeof(PktKernels), typeof(DistKernels), typeof(FspKernels)];

    /// <summary>The CC kernel functions (<see cref="Maths.ICcFunction{T}"/>), open generic.</summary>
    public static readonly Type[] CcFunctionTypes = [typeof(Maths.TaylorRbf<>), typeof(Maths.ExactRbf<>), typeof(Maths.Bilinear<>)];

    static void AddLossKernels(List<(string, MethodInfo, bool)> list, Type element)
    {
        // CC's epilogues are specialised by the kernel function (a type, not a mode flag): every instantiation.
        foreach (var m in new[] { nameof(CcKernels.LossRows), nameof(CcKernels.Backward) })
            foreach (var f in CcFunctionTypes)
                Add(list, typeof(CcKernels), m, element, explicitlyGrouped: m == nameof(CcKernels.LossRows), f.MakeGenericType(element));
        foreach (var owner in LossKernelTypes)
            foreach (var m in owner.GetMethods(BindingFlags.Public | BindingFlags.Static).Select(m => m.Name).Distinct().Order())
                Add(list, owner, m, element, explicitlyGrouped: !owner.GetMethod(m)!.GetParameters()[0].ParameterType.Name.StartsWith("Index"));
        AddSkdKernels(list, element);
    }
}
