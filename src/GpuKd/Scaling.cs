using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd;

/// <summary>
/// Range guard for inputs whose squares would overflow (issue 8: features of norm 1e20 in float32).
/// The fused ops work on Gram matrices, whose entries are squares of the features: 1e20² = 1e40 is
/// beyond float32's 3.4e38 although the op's result (a cosine, an angle, a distance of 1e20) is not.
/// Ops whose result does not depend on the scale of an input (normalised relations and the losses on
/// them) run on that input times a power of two 2^−k with 2^k ≈ max|x| whenever max|x| is above
/// 2^(maxExponent/4) (2^32 in float32, 2^256 in float64). A power-of-two factor is exact, so the value
/// is the one the unscaled computation would give without overflow, and autograd carries the factor
/// into the gradient. Inputs in range, and inputs holding NaN or Inf (which must propagate), are
/// passed through untouched: same tensor, same bits, no extra work beyond the max/min scan.
/// Tiny inputs are left alone by default: the reference semantics clamp small squared distances
/// (1e-12), and rescaling would change which entries are clamped.
/// </summary>
internal static class Scaling
{
    /// <summary>The factor 2^−k that brings max|x| near 1 when it lies outside the safe range, else 1.</summary>
    /// <param name="x">The input.</param>
    /// <param name="up">Also rescale inputs whose max|x| is below 2^(minExponent/4) (for ops with no clamp).</param>
    public static double Factor(Tensor x, bool up = false) => Factor([x], up);

    /// <summary>One factor for several tensors that must be scaled alike (from max|·| over all of them).</summary>
    public static double Factor(Tensor[] xs, bool up = false)
    {
        var x = xs[0];
        double m = 0;
        foreach (var t in xs) { double a = MaxAbs(t); if (double.IsNaN(a)) return 1; m = Math.Max(m, a); }
        if (!double.IsFinite(m) || m == 0) return 1;
        int maxExp = x.dtype == ScalarType.Float64 ? 1024 : 128;
        int minExp = x.dtype == ScalarType.Float64 ? -1022 : -126;
        int e = Math.ILogB(m);
        if (e > maxExp / 4 || (up && e < minExp / 4)) return Math.ScaleB(1.0, -e);
        return 1;
    }

    /// <summary>x · 2^−k as above (x itself when no rescaling is needed): for inputs the op's result does not depend on.</summary>
    public static Tensor Invariant(Tensor x, bool up = false)
    {
        if (x.device_type != TorchSharp.DeviceType.CPU) return x * DeviceFactor(x, up);   // CUDA: no host read
        double f = Factor(x, up);
        return f == 1 ? x : x * f;
    }

    /// <summary>max |x|; NaN if x holds a NaN. A contiguous CPU tensor is scanned in place (SIMD, no native call:
    /// at small b the ops are overhead-bound); otherwise two reductions (no |x| temporary).</summary>
    /// <summary>The factor of <see cref="Factor(Tensor, bool)"/> as a 0-dim tensor computed where x lives, by the same
    /// rule (a power of two bringing max|x| into range; 1 for a NaN/Inf/zero input): on CUDA the host-side scan would
    /// copy and synchronise, which no op does there. Costs one reduction and one multiply over x.</summary>
    public static Tensor DeviceFactor(Tensor x, bool up = false) => DeviceFactor([x], up);

    /// <summary><see cref="DeviceFactor(Tensor, bool)"/> for the largest magnitude of several tensors (one factor for all).</summary>
    public static Tensor DeviceFactor(Tensor[] xs, bool up = false)
    {
        using var scope = NewDisposeScope();
        var x = xs[0];
        int maxExp = x.dtype == ScalarType.Float64 ? 1024 : 128;
        int minExp = x.dtype == ScalarType.Float64 ? -1022 : -126;
        // max |x| as max(max x, −min x): two reductions, no |x| temporary; amax and maximum keep a NaN.
        static Tensor MaxAbs(Tensor t) => torch.maximum(t.detach().amax(), t.detach().amin().neg()).to(ScalarType.Float64);
        var m = MaxAbs(x);
        foreach (var other in xs.Skip(1)) m = torch.maximum(m, MaxAbs(other));
        // e from m clamped into the finite positive range (fmax/fmin drop a NaN), so that e·0 below is 0, never NaN.
        var e = m.fmax(torch.tensor(double.Epsilon, dtype: ScalarType.Float64, device: m.device))
                 .fmin(torch.tensor(double.MaxValue, dtype: ScalarType.Float64, device: m.device)).log2_().floor_();
        var far = e > maxExp / 4;
        if (up) far = far | (e < minExp / 4);
        var use = ((m - m).eq(0) & (m > 0) & far).to(ScalarType.Float64);   // m − m = 0 exactly when m is finite
        // 2^(−e·use): 2^−e where the input is brought into range, 2^0 = 1 elsewhere (arithmetic, no select).
        return torch.exp2(e.mul_(use).neg_()).to(x.dtype).MoveToOuterDisposeScope();
    }

    static double MaxAbs(Tensor x)
    {
        if (x.device_type == TorchSharp.DeviceType.CPU && x.is_contiguous())
        {
            if (x.dtype == ScalarType.Float32) return Scan(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(x.bytes));
            if (x.dtype == ScalarType.Float64) return Scan(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, double>(x.bytes));
        }
        using var hi = x.detach().max();
        using var lo = x.detach().min();
        double a = hi.to(ScalarType.Float64).item<double>(), b = lo.to(ScalarType.Float64).item<double>();
        return double.IsNaN(a) || double.IsNaN(b) ? double.NaN : Math.Max(Math.Abs(a), Math.Abs(b));
    }

    /// <summary>max |v|, NaN if any element is NaN or ±Inf. Non-finite elements are tracked arithmetically
    /// (v − v is 0 for finite v, NaN otherwise): a SIMD max or compare of NaN lanes is order- and JIT-dependent.</summary>
    static double Scan<T>(ReadOnlySpan<T> v) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var lanes = System.Runtime.InteropServices.MemoryMarshal.Cast<T, System.Numerics.Vector<T>>(v);
        var max = System.Numerics.Vector<T>.Zero;
        var poison = System.Numerics.Vector<T>.Zero;
        foreach (var l in lanes)
        {
            max = System.Numerics.Vector.Max(max, System.Numerics.Vector.Abs(l));
            poison += l - l;
        }
        T m = T.Zero;
        for (int k = 0; k < System.Numerics.Vector<T>.Count; k++)
        {
            if (!T.IsFinite(poison[k])) return double.NaN;
            m = T.Max(m, max[k]);
        }
        for (int k = lanes.Length * System.Numerics.Vector<T>.Count; k < v.Length; k++)
        {
            if (!T.IsFinite(v[k])) return double.NaN;
            m = T.Max(m, T.Abs(v[k]));
        }
        return double.CreateChecked(m);
    }
}
