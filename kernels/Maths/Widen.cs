namespace GpuKd.Kernels.Maths;

/// <summary>
/// Element conversion between a kernel's storage type <typeparamref name="T"/> and double, as a generic struct
/// operation (the ILGPU.Algorithms pattern, like <see cref="ITable{T}"/>): a kernel generic over
/// <c>&lt;T, TW&gt; where TW : struct, IWiden&lt;T&gt;</c> reads T, computes in double and writes T, with no float64
/// copy of its inputs. A generic <c>double.CreateTruncating(T)</c> does not compile in an ILGPU kernel (its .NET
/// paths box); a struct type argument is specialised and inlined, so each instantiation is a plain conversion.
/// </summary>
public interface IWiden<T> where T : unmanaged
{
    /// <summary>x as a double (exact for float and double).</summary>
    double Wide(T x);

    /// <summary>v rounded once to T.</summary>
    T Narrow(double v);
}

/// <summary>float32 storage: widened exactly, narrowed with one rounding.</summary>
public readonly struct SingleWiden : IWiden<float>
{
    /// <inheritdoc/>
    public double Wide(float x) => x;

    /// <inheritdoc/>
    public float Narrow(double v) => (float)v;
}

/// <summary>float64 storage: the identity.</summary>
public readonly struct DoubleWiden : IWiden<double>
{
    /// <inheritdoc/>
    public double Wide(double x) => x;

    /// <inheritdoc/>
    public double Narrow(double v) => v;
}

/// <summary>The <see cref="IWiden{T}"/> struct of an element type, for hosts that name kernels by type.</summary>
public static class Widen
{
    /// <summary><see cref="SingleWiden"/> for float, <see cref="DoubleWiden"/> for double.</summary>
    public static Type Of(Type element) => element == typeof(float) ? typeof(SingleWiden)
        : element == typeof(double) ? typeof(DoubleWiden)
        : throw new NotSupportedException($"no widening for element type {element.Name}");
}
