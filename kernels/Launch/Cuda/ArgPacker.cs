using System.Runtime.InteropServices;
using ILGPU;

namespace GpuKd.Kernels.Launch.Cuda;

/// <summary>
/// Packs a launch's arguments into the single parameter buffer <c>cuLaunchKernel</c> takes
/// (<c>CU_LAUNCH_PARAM_BUFFER_POINTER</c>), in ILGPU's parameter layout: an implicitly grouped kernel's extent
/// first (Index1D: one int; Index2D: two), a <see cref="Buf{T}"/> as ILGPU's view {pointer, int64 length},
/// scalars and structs by value; each at its PTX parameter's alignment. Every argument's size must equal its
/// PTX parameter's size, or the launch is refused naming the kernel and the parameter.
/// </summary>
public static class ArgPacker
{
    /// <summary>The packed buffer for launching <paramref name="kernel"/> (whose PTX entry is <paramref name="entry"/>).</summary>
    public static byte[] Pack(KernelId kernel, PtxEntry entry, LaunchShape shape, object[] args)
    {
        var values = new List<byte[]>(args.Length + 1);
        if (!kernel.ExplicitlyGrouped)
            values.Add(shape.Rank == 1 ? BitConverter.GetBytes(shape.ExtentX) : [.. BitConverter.GetBytes(shape.ExtentX), .. BitConverter.GetBytes(shape.ExtentY)]);
        foreach (var a in args) values.Add(Bytes(a));
        if (values.Count != entry.Params.Count)
            throw new ArgumentException($"{kernel.Name}: {values.Count} launch parameters packed, its PTX entry {entry.Name} declares {entry.Params.Count}.");
        var buffer = new byte[entry.BufferSize];
        int offset = 0;
        for (int i = 0; i < values.Count; i++)
        {
            var p = entry.Params[i];
            if (values[i].Length != p.Size)
                throw new ArgumentException($"{kernel.Name}: parameter {i} ({p.Name}) is {p.Size} bytes in the PTX, the argument is {values[i].Length}.");
            offset = PtxEntry.Align(offset, p.Align);
            values[i].CopyTo(buffer, offset);
            offset += p.Size;
        }
        return buffer;
    }

    /// <summary>The bytes of one argument as ILGPU passes it.</summary>
    public static byte[] Bytes(object a) => a switch
    {
        IBuf b => [.. BitConverter.GetBytes((long)b.Ptr), .. BitConverter.GetBytes(b.Length)],
        int v => BitConverter.GetBytes(v),
        uint v => BitConverter.GetBytes(v),
        long v => BitConverter.GetBytes(v),
        float v => BitConverter.GetBytes(v),
        double v => BitConverter.GetBytes(v),
        Index1D v => BitConverter.GetBytes(v.X),
        _ when a.GetType().IsValueType => StructBytes(a),
        _ => throw new ArgumentException($"a {a.GetType().Name} cannot be a kernel argument."),
    };

    static readonly System.Collections.Concurrent.ConcurrentDictionary<Type, Func<object, byte[]>> StructWriters = new();
    static readonly System.Collections.Concurrent.ConcurrentDictionary<Type, int> Sizes = new();

    /// <summary>The bytes of a boxed unmanaged struct (generic ones too, which the marshaller refuses) as laid out in memory.</summary>
    static byte[] StructBytes(object boxed) => StructWriters.GetOrAdd(boxed.GetType(), t =>
        (Func<object, byte[]>)typeof(ArgPacker).GetMethod(nameof(BytesOf), System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!
            .MakeGenericMethod(t).CreateDelegate(typeof(Func<object, byte[]>)))(boxed);

    static byte[] BytesOf<TStruct>(object boxed) where TStruct : unmanaged
    {
        TStruct v = (TStruct)boxed;
        return MemoryMarshal.AsBytes(new ReadOnlySpan<TStruct>(ref v)).ToArray();
    }

    static int UnmanagedSize<TStruct>() where TStruct : unmanaged => System.Runtime.CompilerServices.Unsafe.SizeOf<TStruct>();

    /// <summary>The byte size of a kernel parameter of .NET type <paramref name="t"/> (a view: 16).</summary>
    public static int SizeOf(Type t)
    {
        if (t.IsGenericType && t.GetGenericTypeDefinition() == typeof(ArrayView<>)) return 16;
        if (t == typeof(Index2D)) return 8;
        if (t == typeof(Index1D)) return 4;
        return Sizes.GetOrAdd(t, type => (int)typeof(ArgPacker).GetMethod(nameof(UnmanagedSize), System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!
            .MakeGenericMethod(type).Invoke(null, null)!);
    }
}
