using System.Numerics;
using GpuKd.Kernels.Launch;

namespace GpuKd.Kernels.Programs;

/// <summary>What the RKD distance loss keeps of one side between forward and backward: centred rows xc [b, d] (the
/// input's type), distances d [b, b] and 1/μ (one element) — both float64 whatever the input: the loss epilogue runs in
/// double (for float32 inputs that is the widened path of issue 15: d from double squared norms and the float32 Gram's
/// off-diagonal, ψ, r and Ḡ in double, Ḡ rounded once for the float32 product).</summary>
public readonly record struct RkdDistanceSide<T>(Buf<T> Xc, Buf<double> Dist, Buf<double> InvMu) where T : unmanaged;

/// <summary>What the RKD angle loss keeps of one side: centred rows xc [b, d], Gram g and the leg tables inv, ginv [b, b].</summary>
public readonly record struct RkdAngleSide<T>(Buf<T> Xc, Buf<T> G, Buf<T> Inv, Buf<T> GInv) where T : unmanaged;

/// <summary>
/// The RKD losses' launch sequences (DESIGN §4), written once for every device. Every scalar stays on the
/// device: μ is reduced there (compensated column sums, then the b totals in order), the loss total is written
/// to a one-element buffer, and the upstream gradient is read from one (the backward runs for upstream 1 and
/// scales X̄ by it last). Nothing b³ exists; temporaries are b×b at most.
/// </summary>
public static class RkdPrograms<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Clamp of the squared distance (as PairwiseDistances).</summary>
    public const double Clamp = 1e-12;

    /// <summary>One side of the distance loss: xc, d and 1/μ = b(b−1)/Σd of x [b, dim]; the Gram is a temporary.</summary>
    public static void DistanceSide(IKdDevice dev, Buf<T> x, RkdDistanceSide<T> side, int b, int dim)
    {
        var g = dev.Alloc<T>((long)b * b);
        RelationPrograms<T>.CentredGram(dev, x, side.Xc, g, b, dim);
        side.Dist.Need((long)b * b, "dist");
        if (K<T>.Widened)
        {
            var norms = dev.Alloc<double>(b);
            dev.Launch(K<T>.WideSquaredNorms, LaunchShape.Extent1(b), side.Xc, norms, dim);
            dev.Launch(K<T>.WideDistanceForward(squared: false), LaunchShape.Extent2(b, b), g, side.Xc, norms, side.Dist, b, dim, Clamp, (double)Cpu.CpuPairDistance.Tau<float>());   // float32 Gram: float32 τ
        }
        else RelationPrograms<double>.Distances(dev, (Buf<double>)(object)g, (Buf<double>)(object)side.Xc, side.Dist, b, dim, squared: false, Clamp);
        var sums = dev.Alloc<double>(b);
        dev.Launch(K<double>.ColumnSums, LaunchShape.Extent1(b), side.Dist, sums, b, b);
        dev.Launch(K<double>.Reciprocal, LaunchShape.Extent1(1), sums, side.InvMu.Need(1, "invMu"), b, (double)b * (b - 1));
    }

    /// <summary>Forward: both sides, then loss[0] = (Σ_ij h(d^S_ij/μ_S − d^T_ij/μ_T)) / count, summed in double.</summary>
    public static void DistanceForward(IKdDevice dev, Buf<T> xs, Buf<T> xt, RkdDistanceSide<T> s, RkdDistanceSide<T> t, Buf<T> loss, int b, int ds, int dt, double count)
    {
        DistanceSide(dev, xs, s, b, ds);
        DistanceSide(dev, xt, t, b, dt);
        var partial = dev.Alloc<double>(b);
        int w = dev.Traits.RowGroup;
        dev.Launch(K<double>.DistanceLossPartials, LaunchShape.Groups(b, 1, 1, w, 1, w * sizeof(double)), s.Dist, t.Dist, s.InvMu, t.InvMu, partial, b);
        loss.Need(1, nameof(loss));
        if (K<T>.Widened)
        {
            var total = dev.Alloc<double>(1);
            dev.Launch(K<double>.Total, LaunchShape.Extent1(1), partial, total, b, 1.0 / count);
            dev.Launch(K<T>.ToSingle, LaunchShape.Extent1(1), total, loss);
        }
        else dev.Launch(K<double>.Total, LaunchShape.Extent1(1), partial, (Buf<double>)(object)loss, b, 1.0 / count);
    }

    /// <summary>Backward of one side ("self" against "other"): x̄ [b, dim] = upstream[0] · ∂L/∂x. The teacher's is the
    /// same call with the sides swapped (h' is odd). The epilogue runs in double; Ḡ meets the product in T.</summary>
    public static void DistanceBackward(IKdDevice dev, RkdDistanceSide<T> self, RkdDistanceSide<T> other, Buf<T> upstream, Buf<T> xbar, int b, int dim, double count)
    {
        long bb = (long)b * b;
        Buf<double> dbar = dev.Alloc<double>(bb), rowDots = dev.Alloc<double>(b), muTerm = dev.Alloc<double>(1), gbar = dev.Alloc<double>(bb);
        int w = dev.Traits.RowGroup;
        dev.Launch(K<double>.DistanceLossResiduals, LaunchShape.Groups(b, 1, 1, w, 1, w * sizeof(double)), self.Dist, other.Dist, self.InvMu, other.InvMu,
                   1.0 / count, dbar, rowDots, b);
        dev.Launch(K<double>.MuTerm, LaunchShape.Extent1(1), rowDots, self.InvMu, muTerm, b, 1.0 / ((double)b * (b - 1)));
        dev.Launch(K<double>.DistanceLossFinish, LaunchShape.Extent1(bb), dbar, self.InvMu, muTerm, b);
        RelationPrograms<double>.DistanceGbar(dev, dbar, self.Dist, gbar, b, squared: false, Clamp);
        Buf<T> gbarT;
        if (K<T>.Widened)
        {
            gbarT = dev.Alloc<T>(bb);
            dev.Launch(K<T>.ToSingle, LaunchShape.Extent1(bb), gbar, gbarT);
        }
        else gbarT = (Buf<T>)(object)gbar;
        Products<T>.SymProduct(dev, gbarT, self.Xc, xbar, 1, b, dim);
        Rows<T>.ScaleBy(dev, xbar, upstream);
    }

    /// <summary>Leg length below which an angle leg counts as degenerate (as TripletAngles).</summary>
    public const double Tiny = 1e-12;

    /// <summary>One side of the angle loss: xc, g, inv, ginv of x [b, dim].</summary>
    public static void AngleSide(IKdDevice dev, Buf<T> x, RkdAngleSide<T> side, int b, int dim)
    {
        RelationPrograms<T>.CentredGram(dev, x, side.Xc, side.G, b, dim);
        RelationPrograms<T>.Legs(dev, side.G, side.Xc, side.Inv, side.GInv, b, dim, Tiny);
    }

    /// <summary>Forward: both sides, then loss[0] = (Σ_abc h(ψ^S_abc − ψ^T_abc)) / count from a b×b table of partial sums.</summary>
    public static void AngleForward(IKdDevice dev, Buf<T> xs, Buf<T> xt, RkdAngleSide<T> s, RkdAngleSide<T> t, Buf<T> loss, int b, int ds, int dt, double count)
    {
        AngleSide(dev, xs, s, b, ds);
        AngleSide(dev, xt, t, b, dt);
        var partial = dev.Alloc<T>((long)b * b);
        dev.Launch(K<T>.AngleLossPartials, LaunchShape.Extent2(b, b), s.G, s.Inv, t.G, t.Inv, partial, b);
        Rows<T>.Total(dev, partial, loss.Need(1, nameof(loss)), b, b, 1.0 / count);
    }

    /// <summary>Backward of one side: the angle passes with ∂L/∂ψ recomputed from both sides' tables, one product,
    /// then the upstream scale.</summary>
    public static void AngleBackward(IKdDevice dev, RkdAngleSide<T> self, RkdAngleSide<T> other, Buf<T> upstream, Buf<T> xbar, int b, int dim, double count)
    {
        if (dim == 1)
        {
            // 1-D rows: every angle is locally constant, so the exact gradient is 0 (the passes would leave round-off).
            RelationPrograms<T>.ZeroAngleGradient(dev, self.Xc, other.Xc, xbar, b);
            Rows<T>.ScaleBy(dev, xbar, upstream);
            return;
        }
        var gbar = dev.Alloc<T>((long)b * b);
        RelationPrograms<T>.AnglePasses(dev, self.G, self.Inv, self.GInv, self.G, other.G, other.Inv, fromLoss: true, K<T>.C(1.0 / count), gbar, b);
        Products<T>.SymProduct(dev, gbar, self.Xc, xbar, 1, b, dim);
        Rows<T>.ScaleBy(dev, xbar, upstream);
    }
}
