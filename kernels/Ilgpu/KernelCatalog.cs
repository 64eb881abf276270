using System.Reflection;

namespace GpuKd.Kernels.Ilgpu;

/// <summary>Every ILGPU kernel entry point of the library, for float and double: what the
/// PTX build check (and the GPU harness) compiles.</summary>
public static partial class KernelCatalog
{
    /// <summary>(name, closed generic method, explicitly grouped?) for each kernel and type.</summary>
    public static IReadOnlyList<(string Name, MethodInfo Method, bool ExplicitlyGrouped)> All()
    {
        var list = new List<(string, MethodInfo, bool)>();
        foreach (var type in new[] { typeof(float), typeof(double) })
        {
            Add(list, typeof(MatMulKernel), nameof(MatMulKernel.MatMul), type, explicitlyGrouped: true);
            Add(list, typeof(MatMulTiledKernel), nameof(MatMulTiledKernel.MatMul), type, explicitlyGrouped: true);
            Add(list, typeof(MatMulTiledKernel), nameof(MatMulTiledKernel.MatMul16), type, explicitlyGrouped: true);
            Add(list, typeof(RowKernels), nameof(RowKernels.RowNorms), type, explicitlyGrouped: true);
            foreach (var m in new[] { nameof(RowKernels.ScaleRows), nameof(RowKernels.NormalizeRowsBackward),
                                      nameof(RowKernels.ColumnMeans), nameof(RowKernels.ColumnSums), nameof(RowKernels.SubtractColumnMeans) })
                Add(list, typeof(RowKernels), m, type, false);
            // The pdist kernels are specialised by their output form (a type, not a flag): both.
            foreach (var m in new[] { nameof(DistanceKernels.Forward), nameof(DistanceKernels.Backward) })
                foreach (var form in DistanceFormTypes)
                    Add(list, typeof(DistanceKernels), m, type, false, form.MakeGenericType(type));
            foreach (var m in new[] { nameof(DistanceLossKernels.Partials), nameof(DistanceLossKernels.Residuals) })
                Add(list, typeof(DistanceLossKernels), m, type, explicitlyGrouped: true);
            Add(list, typeof(DistanceLossKernels), nameof(DistanceLossKernels.Finish), type, false);
            foreach (var m in new[] { nameof(AngleKernels.Legs), nameof(AngleKernels.Forward), nameof(AngleKernels.Assemble),
                                      nameof(AngleKernels.LossPartials) })
                Add(list, typeof(AngleKernels), m, type, false);
            // The angle passes are specialised by where ∂L/∂ψ comes from (a type, not a mode flag): both instantiations.
            foreach (var m in new[] { nameof(AngleKernels.RowPass), nameof(AngleKernels.ApexPass) })
                foreach (var up in new[] { typeof(AngleKernels.FromTensor<>), typeof(AngleKernels.FromLoss<>) })
                    Add(list, typeof(AngleKernels), m, type, false, up.MakeGenericType(type));
            AddLossKernels(list, type);
        }
        // The widened float32 epilogues: float views in, double views out (not generic).
        foreach (var m in typeof(WideKernels).GetMethods(BindingFlags.Public | BindingFlags.Static).Select(m => m.Name).Distinct().Order())
        {
            var method = typeof(WideKernels).GetMethod(m)!;
            if (!method.IsGenericMethodDefinition) { list.Add(($"WideKernels.{m}", method, false)); continue; }
            foreach (var form in DistanceFormTypes)   // the widened pdist: double output in either form
                list.Add(($"WideKernels.{m}<{form.Name[..form.Name.IndexOf('`')]}>", method.MakeGenericMethod(form.MakeGenericType(typeof(double))), false));
        }
        return list;
    }

    /// <summary>The pdist output forms (<see cref="Maths.IDistanceForm{T}"/>), open generic.</summary>
    public static readonly Type[] DistanceFormTypes = [typeof(Maths.SquaredDistance<>), typeof(Maths.EuclideanDistance<>)];

    static void Add(List<(string, MethodInfo, bool)> list, Type owner, string name, Type element, bool explicitlyGrouped, Type? behaviour = null)
    {
        var method = owner.GetMethod(name, BindingFlags.Public | BindingFlags.Static)
            ?? throw new InvalidOperationException($"kernel {owner.Name}.{name} not found");
        if (behaviour is null) list.Add(($"{owner.Name}.{name}<{element.Name}>", method.MakeGenericMethod(element), explicitlyGrouped));
        else list.Add(($"{owner.Name}.{name}<{element.Name}, {behaviour.Name[..behaviour.Name.IndexOf('`')]}>", method.MakeGenericMethod(element, behaviour), explicitlyGrouped));
    }
}
