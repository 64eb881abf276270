using GpuKd.Kernels.Maths;
using System.Numerics;
using GpuKd.Kernels.Ilgpu;
using GpuKd.Kernels.Launch;
using static GpuKd.Kernels.Programs.Widened;

namespace GpuKd.Kernels.Programs;

/// <summary>What the IRG edge loss keeps of one side: the centred rows Xc [b, d] (input type), and what the epilogues
/// read, in double: the table G [b, b] with its rows R, and the block [max, count, 1/max] of the side's matrix.
/// float64: G = XcXcᵀ and R = Xc (the same buffer). float32 (widened): G the pseudo-Gram −q/2 of the squared
/// distances q computed in double (zero diagonal: its Gram-form distance is exactly q), R a [b, 1] zero column
/// that the epilogues never reach (q ≥ the clamp, above the recompute threshold).</summary>
public readonly record struct EdgeSide<T>(Buf<T> Xc, Buf<double> G, Buf<double> R, Buf<double> Max) where T : unmanaged;

/// <summary>
/// The IRG edge loss (REFERENCE.md IRG), written once for every device: per side Xc = X − mean and one Gram; a row
/// pass finds each row's max of the clamped squared distances q and its ties, one thread combines them into the
/// side's max, count and 1/max (on the device: the max never visits the host); one row epilogue gives
/// L = Σ (q^S/m_S − q^T/m_T)² / count (q and E recomputed from G, never stored). Backward per side: when the max
/// carries gradient, one row pass for m̄ = −(1/m) Σ Ē E and its per-tie share; one epilogue assembles Ḡ; one product
/// X̄ = (Ḡ + Ḡᵀ)Xc; the upstream scale last. The epilogues run in double. Peak extra memory: O(b² + bD).
/// </summary>
public static class EdgePrograms<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>pdist's clamp of the squared distance.</summary>
    public const double Clamp = 1e-12;

    /// <summary>The width of the rows R the epilogues read (1 for the float32 pseudo-Gram).</summary>
    public static int RowWidth(int d) => K<T>.Widened ? 1 : d;

    static EdgeArgs<double> Args(int b, int dSelf, int dOther, double scale = 0) => new()
    {
        N = b, DSelf = RowWidth(dSelf), DOther = RowWidth(dOther),
        Clamp = Clamp, Tau = Cpu.CpuPairDistance.Tau<double>(), Scale = scale,
    };

    /// <summary>One side: Xc, G, R and the max block from x [b, d].</summary>
    public static void Side(IKdDevice dev, Buf<T> x, EdgeSide<T> side, int b, int d)
    {
        side.Max.Need(3, "max");
        if (K<T>.Widened)
        {
            var g = dev.Alloc<T>((long)b * b);
            RelationPrograms<T>.CentredGram(dev, x, side.Xc, g, b, d);
            var norms = dev.Alloc<double>(b);
            dev.Launch(K<T>.WideSquaredNorms, LaunchShape.Extent1(b), side.Xc, norms, d);
            dev.Launch(K<T>.WideDistanceForward(squared: true), LaunchShape.Extent2(b, b), g, side.Xc, norms, side.G, b, d, Clamp, (double)Cpu.CpuPairDistance.Tau<float>());
            dev.Launch(K<double>.Times, LaunchShape.Extent1((long)b * b), side.G, -0.5);
            dev.Launch(K<double>.Fill, LaunchShape.Extent1(b), side.R.Need(b, "rows"), 0.0);
        }
        else RelationPrograms<double>.CentredGram(dev, D(x), D(side.Xc), side.G, b, d);
        Buf<double> rowMax = dev.Alloc<double>(b), rowCount = dev.Alloc<double>(b);
        dev.Launch(K<double>.EdgeRowMax, LaunchShape.Extent1(b), side.G, side.R, rowMax, rowCount, Args(b, d, d));
        dev.Launch(K<double>.EdgeMax, LaunchShape.Extent1(1), rowMax, rowCount, side.Max, b);
    }

    /// <summary>Forward: both sides, then loss[0] = Σ_i partial_i / count.</summary>
    public static void Forward(IKdDevice dev, Buf<T> xs, Buf<T> xt, EdgeSide<T> s, EdgeSide<T> t, Buf<T> loss, int b, int ds, int dt, double count)
    {
        Side(dev, xs, s, b, ds);
        Side(dev, xt, t, b, dt);
        var partial = dev.Alloc<double>(b);
        dev.Launch(K<double>.EdgeLossRows, LaunchShape.Extent1(b), s.G, s.R, t.G, t.R, s.Max, t.Max, partial, Args(b, ds, dt));
        Rows<T>.TotalOfDouble(dev, partial, loss, b, 1.0 / count);
    }

    /// <summary>Backward of one side ("self" against "other"; the teacher's is the same call with the sides swapped):
    /// x̄ = upstream[0] · ∂L/∂x; with <paramref name="differentiateMax"/> the max carries gradient (split evenly over the
    /// entries equal to it, as PyTorch's max() does).</summary>
    public static void Backward(IKdDevice dev, EdgeSide<T> self, EdgeSide<T> other, Buf<T> upstream, Buf<T> xbar, int b, int d,
        double count, bool differentiateMax)
    {
        var a = Args(b, d, (int)(other.Xc.Length / b), 2.0 / count);
        var maxBar = dev.Alloc<double>(1);
        if (differentiateMax)
        {
            var dots = dev.Alloc<double>(b);
            dev.Launch(K<double>.EdgeDotRows, LaunchShape.Extent1(b), self.G, self.R, other.G, other.R, self.Max, other.Max, dots, a);
            dev.Launch(K<double>.EdgeMaxBar, LaunchShape.Extent1(1), dots, self.Max, maxBar, b, Clamp);
        }
        else dev.Launch(K<double>.Fill, LaunchShape.Extent1(1), maxBar, 0.0);
        long bb = (long)b * b;
        var gbar = dev.Alloc<double>(bb);
        dev.Launch(K<double>.EdgeBackward, LaunchShape.Extent1(b), self.G, self.R, other.G, other.R, self.Max, other.Max, maxBar, gbar, a);
        if (K<T>.Widened)
        {
            var gbar32 = dev.Alloc<float>(bb);
            dev.Launch(K<float>.ToSingle, LaunchShape.Extent1(bb), gbar, gbar32);   // Ḡ is bit-symmetric: rounding keeps it so
            Products<float>.SymProduct(dev, gbar32, F(self.Xc), F(xbar), 1, b, d);
        }
        else Products<double>.SymProduct(dev, gbar, D(self.Xc), D(xbar), 1, b, d);
        Rows<T>.ScaleBy(dev, xbar, upstream);
    }
}
