using System.Numerics;
using GpuKd.Kernels.Launch;
using static GpuKd.Kernels.Programs.Widened;

namespace GpuKd.Kernels.Programs;

/// <summary>What the SP loss keeps of one side: the rows X [b, d] — for float32 the centred rows (written by the
/// forward) with their column means μ [d], for float64 the input rows themselves (read in place; μ empty) — and,
/// always in double, the Gram G = XXᵀ [b, b] and its row norms [b].</summary>
public readonly record struct SpSide<T>(Buf<T> X, Buf<T> Mean, Buf<double> G, Buf<double> Norms) where T : unmanaged;

/// <summary>
/// Similarity-preserving KD (DESIGN §4, REFERENCE.md SP), written once for every device: per side one Gram and its
/// row norms, L = Σ_ij (G^S_ij/max(‖G^S_i‖, ε) − G^T_ij/max(‖G^T_i‖, ε))² / count in one row epilogue (the normalised
/// matrices are never stored). Backward per side: one b×b epilogue Ḡ and one product (Ḡ + Ḡᵀ)X. The epilogues run in
/// double; float32 Grams are widened (<see cref="Widened"/>: always on a device, where the CPU path's host-side gate
/// would read the features). Scalars stay on the device. Peak extra memory: O(b² + bD).
/// </summary>
public static class SpPrograms<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>F.normalize's eps on the Gram rows.</summary>
    public const double Eps = 1e-12;

    static LaunchShape RowGroups(IKdDevice dev, int rows)
    {
        int w = dev.Traits.RowGroup;
        return LaunchShape.Groups(rows, 1, 1, w, 1, w * sizeof(double));
    }

    /// <summary>One side: G and its norms from x [b, d] (float32: Xc and μ written too).</summary>
    public static void Side(IKdDevice dev, Buf<T> x, SpSide<T> side, int b, int d)
    {
        if (K<T>.Widened) Widened.Gram(dev, F(x), new WideRows(F(side.X), F(side.Mean)), side.G, b, d);
        else Products<double>.Gram(dev, D(x), side.G, 1, b, d);
        Rows<double>.Norms(dev, side.G, side.Norms, b, b);
    }

    /// <summary>Forward: both sides, then loss[0] = Σ_i partial_i / count.</summary>
    public static void Forward(IKdDevice dev, Buf<T> xs, Buf<T> xt, SpSide<T> s, SpSide<T> t, Buf<T> loss, int b, int ds, int dt, double count)
    {
        Side(dev, xs, s, b, ds);
        Side(dev, xt, t, b, dt);
        var partial = dev.Alloc<double>(b);
        dev.Launch(K<double>.SpLossRows, RowGroups(dev, b), s.G, s.Norms, t.G, t.Norms, partial, b, Eps);
        Rows<T>.TotalOfDouble(dev, partial, loss, b, 1.0 / count);
    }

    /// <summary>Backward of one side ("self" against "other"; the teacher's is the same call with the sides swapped):
    /// Ḡ = normalisation backward of (2/count)(Ĝ_self − Ĝ_other), x̄ = upstream[0]·(Ḡ + Ḡᵀ)X.</summary>
    public static void Backward(IKdDevice dev, SpSide<T> self, SpSide<T> other, Buf<T> upstream, Buf<T> xbar, int b, int d, double count)
    {
        var gbar = dev.Alloc<double>((long)b * b);
        dev.Launch(K<double>.SpBackwardRows, RowGroups(dev, b), self.G, self.Norms, other.G, other.Norms, gbar, b, Eps, 2.0 / count);
        if (K<T>.Widened) Widened.SymProduct(dev, gbar, new WideRows(F(self.X), F(self.Mean)), F(xbar), b, d);
        else Products<double>.SymProduct(dev, gbar, D(self.X), D(xbar), 1, b, d);
        Rows<T>.ScaleBy(dev, xbar, upstream);
    }
}
