namespace GpuKd.Kernels.Launch;

/// <summary>
/// Device memory as a program sees it: the address of the first element and the element count — exactly
/// the two fields of an ILGPU <c>ArrayView&lt;T&gt;</c> kernel parameter ({pointer, int64 length}), so the CUDA
/// path passes it to a kernel as it is. Where the memory lives (a libtorch CUDA allocation, a CPU tensor, a
/// harness buffer) is the device's business; a program only slices it.
/// </summary>
public readonly record struct Buf<T>(nint Ptr, long Length) : IBuf where T : unmanaged
{
    /// <inheritdoc/>
    public unsafe int ElementSize => sizeof(T);

    /// <inheritdoc/>
    public Type Element => typeof(T);

    object IBuf.ViewOf(ILGPU.Runtime.MemoryBuffer buffer, long offset) => buffer.AsArrayView<T>(offset, Length);

    object IBuf.EmptyView() => ILGPU.ArrayView<T>.Empty;

    /// <summary>Elements [offset, offset + count).</summary>
    public unsafe Buf<T> Slice(long offset, long count)
    {
        if (offset < 0 || count < 0 || offset + count > Length)
            throw new ArgumentOutOfRangeException(nameof(offset), $"slice [{offset}, {offset + count}) outside a buffer of {Length} elements.");
        return new Buf<T>(Ptr + (nint)(offset * sizeof(T)), count);
    }

    /// <summary>Throws unless the buffer holds at least <paramref name="need"/> elements (checked before launch:
    /// a bad index inside a kernel is not recoverable).</summary>
    public Buf<T> Need(long need, string what)
    {
        if (Length < need) throw new ArgumentException($"{what}: buffer holds {Length} elements, {need} needed.", what);
        return this;
    }
}

/// <summary>A <see cref="Buf{T}"/> of any element type, for the devices that pack or wrap arguments.</summary>
public interface IBuf
{
    /// <summary>Address of the first element.</summary>
    nint Ptr { get; }

    /// <summary>Element count.</summary>
    long Length { get; }

    /// <summary>Bytes per element.</summary>
    int ElementSize { get; }

    /// <summary>The element type.</summary>
    Type Element { get; }

    /// <summary>A boxed ArrayView&lt;T&gt; over an ILGPU buffer that wraps this memory.</summary>
    internal object ViewOf(ILGPU.Runtime.MemoryBuffer buffer, long offset);

    /// <summary>A boxed empty ArrayView&lt;T&gt;.</summary>
    internal object EmptyView();
}
