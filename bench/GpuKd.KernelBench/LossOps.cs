using GpuKd.Kernels.Cpu;
using GpuKd.Kernels.Ilgpu;
using GpuKd.Kernels.Programs;
using ILGPU;

namespace GpuKd.KernelBench;

/// <summary>RKD distance loss (RkdDistanceLoss.cs): the library's program (<see cref="RkdPrograms{T}"/>); μ and the
/// loss total reduced on the device, the loss read back once.</summary>
internal sealed class RkdDistanceOp : KernelOp
{
    readonly RkdDistanceSide<float> _s, _t;
    readonly ArrayView<float> _loss, _one;

    public RkdDistanceOp(IlgpuDevice d, float[] xs, float[] xt, int b, int ds, int dt) : base(d, xs, xt, b, ds, dt)
    {
        long bb = (long)b * b;
        _s = new(Buf(Alloc((long)b * ds)), AllocDouble(bb), AllocDouble(1));
        _t = new(Buf(Alloc((long)b * dt)), AllocDouble(bb), AllocDouble(1));
        (_loss, _one) = (Alloc(1), Upload1(1f));
        Grad = Alloc((long)b * ds);
    }

    public override bool IsLoss => true;

    public override void Forward()
    {
        using (P.Sequence()) RkdPrograms<float>.DistanceForward(P, Buf(Xs), Buf(Xt), _s, _t, Buf(_loss), B, Ds, Dt, (double)B * B);
        Loss = Read(_loss, 1)[0];
    }

    public override void Backward()
    {
        using (P.Sequence()) RkdPrograms<float>.DistanceBackward(P, _s, _t, Buf(_one), Buf(Grad), B, Ds, (double)B * B);
    }
}

/// <summary>RKD angle loss (RkdAngleLoss.cs): the library's program; O(b²) memory, the b³ work in three streaming passes.</summary>
internal sealed class RkdAngleOp : KernelOp
{
    readonly RkdAngleSide<float> _s, _t;
    readonly ArrayView<float> _loss, _one;

    public RkdAngleOp(IlgpuDevice d, float[] xs, float[] xt, int b, int ds, int dt) : base(d, xs, xt, b, ds, dt)
    {
        long bb = (long)b * b;
        _s = new(Buf(Alloc((long)b * ds)), Buf(Alloc(bb)), Buf(Alloc(bb)), Buf(Alloc(bb)));
        _t = new(Buf(Alloc((long)b * dt)), Buf(Alloc(bb)), Buf(Alloc(bb)), Buf(Alloc(bb)));
        (_loss, _one) = (Alloc(1), Upload1(1f));
        Grad = Alloc((long)b * ds);
    }

    public override bool IsLoss => true;

    public override void Forward()
    {
        using (P.Sequence()) RkdPrograms<float>.AngleForward(P, Buf(Xs), Buf(Xt), _s, _t, Buf(_loss), B, Ds, Dt, (double)B * B * B);
        Loss = Read(_loss, 1)[0];
    }

    public override void Backward()
    {
        using (P.Sequence()) RkdPrograms<float>.AngleBackward(P, _s, _t, Buf(_one), Buf(Grad), B, Ds, (double)B * B * B);
    }
}

/// <summary>Similarity-preserving loss (SpLoss.cs): the library's program (<see cref="SpPrograms{T}"/>, float32 widened);
/// the loss total reduced on the device, read back once.</summary>
internal sealed class SpOp : KernelOp
{
    readonly SpSide<float> _s, _t;
    readonly ArrayView<float> _loss, _one;

    public SpOp(IlgpuDevice d, float[] xs, float[] xt, int b, int ds, int dt) : base(d, xs, xt, b, ds, dt)
    {
        long bb = (long)b * b;
        _s = new(Buf(Alloc((long)b * ds)), Buf(Alloc(ds)), AllocDouble(bb), AllocDouble(b));
        _t = new(Buf(Alloc((long)b * dt)), Buf(Alloc(dt)), AllocDouble(bb), AllocDouble(b));
        (_loss, _one) = (Alloc(1), Upload1(1f));
        Grad = Alloc((long)b * ds);
    }

    public override bool IsLoss => true;

    public override void Forward()
    {
        using (P.Sequence()) SpPrograms<float>.Forward(P, Buf(Xs), Buf(Xt), _s, _t, Buf(_loss), B, Ds, Dt, (double)B * B);
        Loss = Read(_loss, 1)[0];
    }

    public override void Backward()
    {
        using (P.Sequence()) SpPrograms<float>.Backward(P, _s, _t, Buf(_one), Buf(Grad), B, Ds, (double)B * B);
    }
}

/// <summary>Correlation congruence, Taylor-RBF γ = 0.4, P = 2 (CcLoss.cs): the library's program (<see cref="CcPrograms{T}"/>).</summary>
internal sealed class CcOp : KernelOp
{
    public const double Gamma = 0.4;
    public const int Order = 2;
    static readonly CcFunctionSpec F = new(0, Order, 2 * Gamma, Math.Exp(-2 * Gamma));
    readonly CcSide<float> _s, _t;
    readonly ArrayView<float> _loss, _one;

    public CcOp(IlgpuDevice d, float[] xs, float[] xt, int b, int ds, int dt) : base(d, xs, xt, b, ds, dt)
    {
        long bb = (long)b * b;
        _s = new(Buf(Alloc((long)b * ds)), Buf(Alloc(ds)), AllocDouble(b), AllocDouble(bb));
        _t = new(Buf(Alloc((long)b * dt)), Buf(Alloc(dt)), AllocDouble(b), AllocDouble(bb));
        (_loss, _one) = (Alloc(1), Upload1(1f));
        Grad = Alloc((long)b * ds);
    }

    public override bool IsLoss => true;

    public override void Forward()
    {
        using (P.Sequence()) CcPrograms<float>.Forward(P, Buf(Xs), Buf(Xt), _s, _t, Buf(_loss), B, Ds, Dt, F, (double)B * B);
        Loss = Read(_loss, 1)[0];
    }

    public override void Backward()
    {
        using (P.Sequence()) CcPrograms<float>.Backward(P, _s, _t, Buf(_one), Buf(Grad), B, Ds, F, (double)B * B);
    }
}

/// <summary>IRG edge loss with the max differentiated (IrgEdgeLoss.cs): the library's program (<see cref="EdgePrograms{T}"/>);
/// the maxima stay on the device.</summary>
internal sealed class IrgEdgeOp : KernelOp
{
    readonly EdgeSide<float> _s, _t;
    readonly ArrayView<float> _loss, _one;

    public IrgEdgeOp(IlgpuDevice d, float[] xs, float[] xt, int b, int ds, int dt) : base(d, xs, xt, b, ds, dt)
    {
        long bb = (long)b * b;
        _s = new(Buf(Alloc((long)b * ds)), AllocDouble(bb), AllocDouble(b), AllocDouble(3));
        _t = new(Buf(Alloc((long)b * dt)), AllocDouble(bb), AllocDouble(b), AllocDouble(3));
        (_loss, _one) = (Alloc(1), Upload1(1f));
        Grad = Alloc((long)b * ds);
    }

    public override bool IsLoss => true;

    public override void Forward()
    {
        using (P.Sequence()) EdgePrograms<float>.Forward(P, Buf(Xs), Buf(Xt), _s, _t, Buf(_loss), B, Ds, Dt, (double)B * B);
        Loss = Read(_loss, 1)[0];
    }

    public override void Backward()
    {
        using (P.Sequence()) EdgePrograms<float>.Backward(P, _s, _t, Buf(_one), Buf(Grad), B, Ds, (double)B * B, differentiateMax: true);
    }
}
