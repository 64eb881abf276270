using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace GpuKd.Device;

/// <summary>Zero-copy access to a contiguous CPU tensor's elements (DESIGN §6: through
/// <c>bytes</c>, never <c>data&lt;T&gt;()</c>). The tensor must outlive the pointer's use.</summary>
internal static unsafe class TensorMemory
{
    public static T* Ptr<T>(Tensor t) where T : unmanaged
    {
        if (!t.is_contiguous()) throw new InvalidOperationException("internal: tensor must be contiguous");
        if (t.numel() == 0) return null;
        var span = MemoryMarshal.Cast<byte, T>(t.bytes);
        return (T*)Unsafe.AsPointer(ref MemoryMarshal.GetReference(span));
    }
}
