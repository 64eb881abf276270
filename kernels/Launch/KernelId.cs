using System.Collections.Concurrent;
using System.Reflection;
using ILGPU;

namespace GpuKd.Kernels.Launch;

/// <summary>
/// One ILGPU kernel entry point for one element type: what a program names when it launches, what ILGPU
/// compiles (to PTX for CUDA, or for its CPU accelerator), and what the recording driver reports. Created
/// once per (kernel, element type) and shared.
/// </summary>
public sealed class KernelId
{
    static readonly ConcurrentDictionary<(Type, string, string), KernelId> Cache = new();

    /// <summary>"Owner.Method&lt;Element&gt;", e.g. "RowKernels.RowNorms&lt;Single&gt;".</summary>
    public string Name { get; }

    /// <summary>The closed generic kernel method.</summary>
    public MethodInfo Method { get; }

    /// <summary>True when the kernel takes no index parameter (grid and groups given by the launch).</summary>
    public bool ExplicitlyGrouped { get; }

    /// <summary>The parameter types, without the leading index of an implicitly grouped kernel.</summary>
    public IReadOnlyList<Type> Arguments { get; }

    /// <summary>The leading index type of an implicitly grouped kernel (Index1D, Index2D), else null.</summary>
    public Type? IndexType { get; }

    KernelId(Type owner, string name, Type[] typeArguments)
    {
        var generic = owner.GetMethod(name, BindingFlags.Public | BindingFlags.Static)
            ?? throw new InvalidOperationException($"kernel {owner.Name}.{name} not found");
        Method = generic.IsGenericMethodDefinition ? generic.MakeGenericMethod(typeArguments) : generic;
        Name = $"{owner.Name}.{name}<{string.Join(", ", typeArguments.Select(Short))}>";
        var ps = Method.GetParameters().Select(p => p.ParameterType).ToArray();
        ExplicitlyGrouped = ps.Length == 0 || !ps[0].Name.StartsWith("Index", StringComparison.Ordinal);
        IndexType = ExplicitlyGrouped ? null : ps[0];
        Arguments = ExplicitlyGrouped ? ps : ps[1..];
    }

    /// <summary>The kernel <paramref name="owner"/>.<paramref name="name"/> for elements of type <paramref name="element"/>
    /// (and, for a kernel specialised by behaviour types, those type arguments after it).</summary>
    public static KernelId Of(Type owner, string name, Type element, params Type[] more)
    {
        Type[] args = [element, .. more];
        return Cache.GetOrAdd((owner, name, string.Join(",", args.Select(a => a.FullName))), _ => new KernelId(owner, name, args));
    }

    /// <summary>A type's name without its generic arity or arguments (FromLoss`1[Single] → FromLoss).</summary>
    static string Short(Type t) => t.IsGenericType ? t.Name[..t.Name.IndexOf('`')] : t.Name;

    /// <summary>Checks a launch against the kernel's signature before anything reaches a device: the shape kind, the
    /// argument count and each argument's type (a <see cref="Buf{T}"/> stands for an <c>ArrayView&lt;T&gt;</c>).</summary>
    public void Check(LaunchShape shape, object[] args)
    {
        if (shape.Explicit != ExplicitlyGrouped)
            throw new ArgumentException($"{Name}: launched with {(shape.Explicit ? "a grid" : "an extent")}, but the kernel is {(ExplicitlyGrouped ? "explicitly" : "implicitly")} grouped.");
        if (!ExplicitlyGrouped && (IndexType == typeof(Index1D)) != (shape.Rank == 1))
            throw new ArgumentException($"{Name}: a rank-{shape.Rank} extent for a {IndexType!.Name} kernel.");
        if (args.Length != Arguments.Count)
            throw new ArgumentException($"{Name}: {args.Length} arguments given, the kernel takes {Arguments.Count}.");
        for (int i = 0; i < args.Length; i++)
        {
            var want = Arguments[i];
            var have = args[i]?.GetType();
            bool ok = have == want || (want.IsGenericType && want.GetGenericTypeDefinition() == typeof(ArrayView<>)
                                       && have is { IsGenericType: true } && have.GetGenericTypeDefinition() == typeof(Buf<>)
                                       && have.GetGenericArguments()[0] == want.GetGenericArguments()[0]);
            if (!ok) throw new ArgumentException($"{Name}: argument {i} is {have?.Name ?? "null"}, the kernel's parameter {Method.GetParameters()[i + (ExplicitlyGrouped ? 0 : 1)].Name} is {want.Name}.");
        }
    }

    /// <inheritdoc/>
    public override string ToString() => Name;
}
