using System.Runtime.CompilerServices;
using ILGPU;

namespace GpuKd.Kernels.Maths;

/// <summary>
/// Read access to a row-major table, so that one generic element function (<c>kernels/Maths</c>) serves both
/// backends: ILGPU compiles it for <see cref="ViewTable{T}"/> (an ArrayView, on CUDA or its CPU accelerator), the
/// .NET JIT for <see cref="PtrTable{T}"/> (a pointer into a CPU tensor) — the ILGPU.Algorithms pattern of generic
/// struct operations. Struct type arguments are specialised and inlined, so neither side pays for the abstraction.
/// </summary>
public interface ITable<T> where T : unmanaged
{
    /// <summary>Element <paramref name="i"/>.</summary>
    T this[long i] { get; }
}

/// <summary>An ILGPU view as a table (kernels).</summary>
public readonly struct ViewTable<T>(ArrayView<T> view) : ITable<T> where T : unmanaged
{
    /// <inheritdoc/>
    public T this[long i]
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => view[i];
    }
}

/// <summary>A pointer as a table (the CPU loops).</summary>
internal readonly unsafe struct PtrTable<T>(T* p) : ITable<T> where T : unmanaged
{
    /// <inheritdoc/>
    public T this[long i]
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => p[i];
    }
}
