using System.Numerics;
using GpuKd.Kernels.Launch;
using GpuKd.Kernels.Maths;
using static GpuKd.Kernels.Programs.Widened;

namespace GpuKd.Kernels.Programs;

/// <summary>The CC kernel function as the kernels take it: kind (0 Taylor-RBF, 1 exact RBF, 2 bilinear, 3 raw
/// bilinear), Taylor order, t = 2γ and c0 = e^{−2γ}.</summary>
public readonly record struct CcFunctionSpec(int Kind, int Order, double T, double C0)
{
    /// <summary>The raw bilinear kernel: K = XXᵀ, no normalisation.</summary>
    public bool Raw => Kind == 3;

    /// <summary>The function as the double epilogue kernels take it: its type (the kernels' second type argument) and value.</summary>
    internal (Type Type, object Value) ForKernels() => Kind switch
    {
        0 => (typeof(TaylorRbf<double>), new TaylorRbf<double> { Order = Order, T2 = T, C0 = C0 }),
        1 => (typeof(ExactRbf<double>), new ExactRbf<double> { T2 = T }),
        _ => (typeof(Bilinear<double>), new Bilinear<double>()),
    };
}

/// <summary>What the CC loss keeps of one side: the rows X [b, d], the row norms [b] and, in double, the correlation
/// matrix A [b, b]. float32: X the centred rows and μ [d] their column means (A from the widened Gram), norms √diag G
/// (double, empty for the raw kernel). float64: X the unit rows (written; the input rows themselves, in place, for
/// the raw kernel), norms of the input rows, μ empty.</summary>
public readonly record struct CcSide<T>(Buf<T> X, Buf<T> Mean, Buf<double> Norms, Buf<double> A) where T : unmanaged;

/// <summary>
/// Correlation congruence (DESIGN §4, REFERENCE.md CC), written once for every device: per side X̂ = rows /
/// max(‖row‖, ε) (not for the raw bilinear kernel) and A = X̂X̂ᵀ; L = Σ (f(A^S) − f(A^T))² / count in one row
/// epilogue (K = f(A) never stored). Backward per side: Ā = (2/count)(f(A^self) − f(A^other)) f'(A^self), one product
/// back, the normalisation's backward. float32 always takes the widened Gram (A_ij = G_ij s_i s_j with G = XXᵀ in
/// double, ‖x_i‖ = √G_ii): CC's kernel of a small A^S − A^T loses the 1e-4 bar in float32 even on unstructured rows.
/// The epilogues run in double. Scalars stay on the device. Peak extra memory: O(b² + bD).
/// </summary>
public static class CcPrograms<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>F.normalize's eps.</summary>
    public const double Eps = 1e-12;

    /// <summary>One side: A (and X, μ, norms) from x [b, d].</summary>
    public static void Side(IKdDevice dev, Buf<T> x, CcSide<T> side, int b, int d, CcFunctionSpec f)
    {
        if (K<T>.Widened)
        {
            Widened.Gram(dev, F(x), new WideRows(F(side.X), F(side.Mean)), side.A, b, d);
            if (f.Raw) return;
            dev.Launch(K<float>.WideDiagonalRoots, LaunchShape.Extent1(b), side.A, side.Norms, b);
            dev.Launch(K<float>.WideCosines, LaunchShape.Extent2(b, b), side.A, side.Norms, b, Eps);
            return;
        }
        Buf<double> rows = D(x), unit = D(side.X);
        if (!f.Raw)
        {
            Rows<double>.Norms(dev, rows, side.Norms, b, d);
            Rows<double>.Scale(dev, rows, side.Norms, unit, b, d, Eps);
            rows = unit;
        }
        Products<double>.Gram(dev, rows, side.A, 1, b, d);
    }

    /// <summary>Forward: both sides, then loss[0] = Σ_i partial_i / count.</summary>
    public static void Forward(IKdDevice dev, Buf<T> xs, Buf<T> xt, CcSide<T> s, CcSide<T> t, Buf<T> loss, int b, int ds, int dt, CcFunctionSpec f, double count)
    {
        Side(dev, xs, s, b, ds, f);
        Side(dev, xt, t, b, dt, f);
        var partial = dev.Alloc<double>(b);
        int w = dev.Traits.RowGroup;
        var (type, fn) = f.ForKernels();
        dev.Launch(K<double>.CcLossRows(type), LaunchShape.Groups(b, 1, 1, w, 1, w * sizeof(double)), s.A, t.A, partial, b, fn);
        Rows<T>.TotalOfDouble(dev, partial, loss, b, 1.0 / count);
    }

    /// <summary>Backward of one side ("self" against "other"): x̄ = upstream[0] · ∂L/∂x.</summary>
    public static void Backward(IKdDevice dev, CcSide<T> self, CcSide<T> other, Buf<T> upstream, Buf<T> xbar, int b, int d, CcFunctionSpec f, double count)
    {
        long bb = (long)b * b;
        var abar = dev.Alloc<double>(bb);
        var (type, fn) = f.ForKernels();
        dev.Launch(K<double>.CcBackward(type), LaunchShape.Extent1(bb), self.A, other.A, abar, fn, 2.0 / count);
        if (K<T>.Widened)
        {
            var gbar = abar;
            if (!f.Raw)
            {
                gbar = dev.Alloc<double>(bb);
                dev.Launch(K<float>.WideCosinesBackward, LaunchShape.Extent1(b), abar, self.A, self.Norms, gbar, b, Eps);
            }
            Widened.SymProduct(dev, gbar, new WideRows(F(self.X), F(self.Mean)), F(xbar), b, d);
            // the gradient of a unit-row loss is orthogonal to each row: drop the radial residue of the float32 product
            if (!f.Raw) dev.Launch(K<float>.WideTangentOnly, LaunchShape.Extent1(b), F(xbar), F(self.X), F(self.Mean), self.Norms, d, Eps);
        }
        else if (f.Raw) Products<double>.SymProduct(dev, abar, D(self.X), D(xbar), 1, b, d);
        else
        {
            var ubar = dev.Alloc<double>((long)b * d);
            Products<double>.SymProduct(dev, abar, D(self.X), ubar, 1, b, d);
            Rows<double>.NormalizeBackward(dev, ubar, D(self.X), self.Norms, D(xbar), b, d, Eps);
        }
        Rows<T>.ScaleBy(dev, xbar, upstream);
    }
}
