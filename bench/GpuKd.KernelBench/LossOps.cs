using GpuKd.Kernels.Cpu;
using GpuKd.Kernels.Ilgpu;
using GpuKd.Kernels.Programs;
using ILGPU;

namespace GpuKd.KernelBench;

/// <summary>Centred rows and their Gram of one side: the start of the translation-invariant losses.</summary>
internal readonly record struct CentredSide(ArrayView<float> Mean, ArrayView<float> Xc, ArrayView<float> G);

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

/// <summary>Similarity-preserving loss (SpLoss.cs): raw Grams, their row norms, one row epilogue.</summary>
internal sealed class SpOp : KernelOp
{
    readonly ArrayView<float> _gs, _gt, _ns, _nt, _partial, _gbar;

    public SpOp(IlgpuDevice d, float[] xs, float[] xt, int b, int ds, int dt) : base(d, xs, xt, b, ds, dt)
    {
        long bb = (long)b * b;
        (_gs, _gt, _gbar) = (Alloc(bb), Alloc(bb), Alloc(bb));
        (_ns, _nt, _partial) = (Alloc(b), Alloc(b), Alloc(b));
        Grad = Alloc((long)b * ds);
    }

    public override bool IsLoss => true;

    public override void Forward()
    {
        K.Gram(Xs, _gs, 1, B, Ds);
        K.Gram(Xt, _gt, 1, B, Dt);
        K.RowNorms(_gs, _ns, B, B);
        K.RowNorms(_gt, _nt, B, B);
        L.SpLossRows(_gs, _ns, _gt, _nt, _partial, B, Eps);
        Loss = HostSum(_partial, B) / ((double)B * B);
    }

    public override void Backward()
    {
        L.SpBackwardRows(_gs, _ns, _gt, _nt, _gbar, B, Eps, (float)(2.0 / ((double)B * B)));
        K.SymProduct(_gbar, Xs, Grad, 1, B, Ds);
    }
}

/// <summary>Correlation congruence, Taylor-RBF γ = 0.4, P = 2 (CcLoss.cs).</summary>
internal sealed class CcOp : KernelOp
{
    public const double Gamma = 0.4;
    public const int Order = 2;
    static readonly float T2 = (float)(2 * Gamma), C0 = (float)Math.Exp(-2 * Gamma);
    readonly ArrayView<float> _ns, _nt, _us, _ut, _as, _at, _partial, _abar, _ubar;

    public CcOp(IlgpuDevice d, float[] xs, float[] xt, int b, int ds, int dt) : base(d, xs, xt, b, ds, dt)
    {
        long bb = (long)b * b;
        (_ns, _nt, _partial) = (Alloc(b), Alloc(b), Alloc(b));
        (_us, _ut, _ubar) = (Alloc((long)b * ds), Alloc((long)b * dt), Alloc((long)b * ds));
        (_as, _at, _abar) = (Alloc(bb), Alloc(bb), Alloc(bb));
        Grad = Alloc((long)b * ds);
    }

    public override bool IsLoss => true;

    public override void Forward()
    {
        K.RowNorms(Xs, _ns, B, Ds);
        K.ScaleRows(Xs, _ns, _us, B, Ds, Eps);
        K.RowNorms(Xt, _nt, B, Dt);
        K.ScaleRows(Xt, _nt, _ut, B, Dt, Eps);
        K.Gram(_us, _as, 1, B, Ds);
        K.Gram(_ut, _at, 1, B, Dt);
        L.CcLossRows(_as, _at, _partial, B, kind: 0, Order, T2, C0);
        Loss = HostSum(_partial, B) / ((double)B * B);
    }

    public override void Backward()
    {
        L.CcBackward(_as, _at, _abar, B, kind: 0, Order, T2, C0, (float)(2.0 / ((double)B * B)));
        K.SymProduct(_abar, _us, _ubar, 1, B, Ds);
        K.NormalizeRowsBackward(_ubar, _us, _ns, Grad, B, Ds, Eps);
    }
}

/// <summary>IRG edge loss with the max differentiated (IrgEdgeLoss.cs): row maxima combined on the host.</summary>
internal sealed class IrgEdgeOp : KernelOp
{
    readonly CentredSide _s, _t;
    readonly ArrayView<float> _rowMax, _rowCount, _partial, _gbar;
    EdgeArgs<float> _args;
    double _maxS, _countS;

    public IrgEdgeOp(IlgpuDevice d, float[] xs, float[] xt, int b, int ds, int dt) : base(d, xs, xt, b, ds, dt)
    {
        long bb = (long)b * b;
        _s = new(Alloc(ds), Alloc((long)b * ds), Alloc(bb));
        _t = new(Alloc(dt), Alloc((long)b * dt), Alloc(bb));
        (_rowMax, _rowCount, _partial) = (Alloc(b), Alloc(b), Alloc(b));
        _gbar = Alloc(bb);
        Grad = Alloc((long)b * ds);
    }

    public override bool IsLoss => true;

    static double Inverse(double m) => m > 0 ? 1 / m : double.IsNaN(m) ? double.NaN : 0;

    (double Max, double Count) Side(ArrayView<float> x, int d, CentredSide c)
    {
        K.Centre(x, c.Mean, c.Xc, B, d);
        K.Gram(c.Xc, c.G, 1, B, d);
        L.EdgeRowMax(c.G, c.Xc, _rowMax, _rowCount, Args(d, d));
        var m = Read(_rowMax, B).ToArray();
        var n = Read(_rowCount, B);
        double max = 0, count = 0;   // the library's fixed-order combination (NaN wins)
        for (int i = 0; i < B; i++)
        {
            if (double.IsNaN(max)) break;
            if (m[i] > max || float.IsNaN(m[i])) { max = m[i]; count = n[i]; }
            else if (m[i] == max) count += n[i];
        }
        return (max, count);
    }

    EdgeArgs<float> Args(int dSelf, int dOther) => new()
    {
        N = B, DSelf = dSelf, DOther = dOther, Clamp = Eps, Tau = CpuPairDistance.Tau<float>(),
    };

    public override void Forward()
    {
        (_maxS, _countS) = Side(Xs, Ds, _s);
        var (maxT, _) = Side(Xt, Dt, _t);
        _args = Args(Ds, Dt) with { InvMSelf = (float)Inverse(_maxS), InvMOther = (float)Inverse(maxT) };
        L.EdgeLossRows(_s.G, _s.Xc, _t.G, _t.Xc, _partial, _args);
        Loss = HostSum(_partial, B) / ((double)B * B);
    }

    public override void Backward()
    {
        var e = _args with { Scale = (float)(2.0 / ((double)B * B)), Max = (float)_maxS };
        if (_maxS > Eps)
        {
            L.EdgeDotRows(_s.G, _s.Xc, _t.G, _t.Xc, _partial, e);
            double dot = HostSum(_partial, B);
            e = e with { MaxBarPerTie = (float)(-dot * Inverse(_maxS) / _countS) };
        }
        L.EdgeBackward(_s.G, _s.Xc, _t.G, _t.Xc, _gbar, e);
        K.SymProduct(_gbar, _s.Xc, Grad, 1, B, Ds);
    }
}
