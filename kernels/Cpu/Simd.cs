using System.Numerics;
using System.Runtime.CompilerServices;

namespace GpuKd.Kernels.Cpu;

/// <summary>Vector&lt;T&gt; loops with a scalar remainder (the width is the machine's: AVX-512
/// or AVX2). Each sum has a fixed order for a given length, so results are deterministic.</summary>
internal static unsafe class Simd
{
    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    public static T Dot<T>(T* a, T* b, int n) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int w = Vector<T>.Count, k = 0;
        var acc = Vector<T>.Zero;
        for (; k <= n - w; k += w) acc += Vector.Load(a + k) * Vector.Load(b + k);
        T s = Vector.Sum(acc);
        for (; k < n; k++) s += a[k] * b[k];
        return s;
    }

    /// <summary>y[k] = (ybar[k] − y[k]·dot) · scale.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    public static void ProjectOut<T>(T* ybar, T* y, T dot, T scale, T* outp, int n) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int w = Vector<T>.Count, k = 0;
        var vd = new Vector<T>(dot);
        var vs = new Vector<T>(scale);
        for (; k <= n - w; k += w) ((Vector.Load(ybar + k) - Vector.Load(y + k) * vd) * vs).Store(outp + k);
        for (; k < n; k++) outp[k] = (ybar[k] - y[k] * dot) * scale;
    }

    /// <summary>acc[k] += a[k] · s[k] · c, for k in [0, n).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    public static void AddScaledProduct<T>(T* acc, T* a, T* s, T c, int n) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int w = Vector<T>.Count, k = 0;
        var vc = new Vector<T>(c);
        for (; k <= n - w; k += w) (Vector.Load(acc + k) + Vector.Load(a + k) * Vector.Load(s + k) * vc).Store(acc + k);
        for (; k < n; k++) acc[k] += a[k] * s[k] * c;
    }

    /// <summary>Σ_k h(a[k] − b[k]) with h the smooth-L1 loss (β = 1): with z = |a − b| and
    /// m = min(z, 1), h = m(z − m/2), i.e. z²/2 below 1 and z − 1/2 above, without a branch.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    public static T SmoothL1Sum<T>(T* a, T* b, int n) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int w = Vector<T>.Count, k = 0;
        var one = Vector<T>.One;
        var half = new Vector<T>(T.One / (T.One + T.One));
        var acc = Vector<T>.Zero;
        for (; k <= n - w; k += w)
        {
            var z = Vector.Abs(Vector.Load(a + k) - Vector.Load(b + k));
            var m = Vector.Min(z, one);
            acc += m * (z - half * m);
        }
        T s = Vector.Sum(acc), h = T.One / (T.One + T.One);
        for (; k < n; k++)
        {
            T z = T.Abs(a[k] - b[k]);
            T m = z < T.One ? z : T.One;
            s += m * (z - h * m);
        }
        return s;
    }

    /// <summary>outp[k] = scale · clamp(a[k] − b[k], −1, 1): the smooth-L1 derivative, scaled.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    public static void ClampedDifference<T>(T* a, T* b, T scale, T* outp, int n) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int w = Vector<T>.Count, k = 0;
        var one = Vector<T>.One;
        var vs = new Vector<T>(scale);
        for (; k <= n - w; k += w)
            (Vector.Min(Vector.Max(Vector.Load(a + k) - Vector.Load(b + k), -one), one) * vs).Store(outp + k);
        for (; k < n; k++)
        {
            T z = a[k] - b[k];
            outp[k] = scale * (z > T.One ? T.One : z < -T.One ? -T.One : z);
        }
    }

    /// <summary>p[k] = a[k]·b[k]; acc[k] += p[k]; returns Σ_k p[k].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    public static T MultiplyAccumulateSum<T>(T* a, T* b, T* acc, int n) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int w = Vector<T>.Count, k = 0;
        var sum = Vector<T>.Zero;
        for (; k <= n - w; k += w)
        {
            var p = Vector.Load(a + k) * Vector.Load(b + k);
            sum += p;
            (Vector.Load(acc + k) + p).Store(acc + k);
        }
        T s = Vector.Sum(sum);
        for (; k < n; k++) { T p = a[k] * b[k]; s += p; acc[k] += p; }
        return s;
    }
}
