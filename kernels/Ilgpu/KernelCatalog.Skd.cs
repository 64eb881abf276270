using System.Reflection;
using GpuKd.Kernels.Maths;

namespace GpuKd.Kernels.Ilgpu;

public static partial class KernelCatalog
{
    /// <summary>The structured-KD kernels (issue 13) for one element type: each kernel with the widening of that type
    /// (<see cref="IWiden{T}"/>), the pixel-wise pass once per term, the node normalisation once per hat type — every
    /// instantiation the programs launch (<c>K&lt;T&gt;.Skd*</c>).</summary>
    static void AddSkdKernels(List<(string, MethodInfo, bool)> list, Type element)
    {
        var w = Widen.Of(element);
        void Skd(string name, params Type[] args)
        {
            var method = typeof(SkdKernels).GetMethod(name, BindingFlags.Public | BindingFlags.Static)!.MakeGenericMethod(args);
            list.Add(($"SkdKernels.{name}<{string.Join(", ", args.Select(a => a.Name))}>", method, false));
        }
        foreach (var term in new[] { typeof(SkdKernels.CrossEntropy), typeof(SkdKernels.TemperatureKl) })
            Skd(nameof(SkdKernels.Pixelwise), element, w, term);
        Skd(nameof(SkdKernels.Narrow), element, w);
        Skd(nameof(SkdKernels.ScaleGrad), element);
        foreach (var hat in new[] { typeof(double), typeof(float) })
            Skd(nameof(SkdKernels.Nodes), element, w, hat, Widen.Of(hat));
        Skd(nameof(SkdKernels.DirectRows), element, w);
        Skd(nameof(SkdKernels.DirectColumns), element, w);
        Skd(nameof(SkdKernels.DirectHatGrad), element, w);
    }
}
