using GpuKd.Kernels.Ilgpu;
using GpuKd.Kernels.Programs;
using ILGPU;

namespace GpuKd.KernelBench;

/// <summary>Gram matrix (GramMatrix.cs): the library's program (<see cref="RelationPrograms{T}.GramForward"/>).</summary>
internal sealed class GramOp : KernelOp
{
    public GramOp(IlgpuDevice d, float[] xs, float[] xt, int b, int ds, int dt) : base(d, xs, xt, b, ds, dt)
        => Output = Alloc((long)b * b);

    public override bool IsLoss => false;

    public override void Forward()
    {
        using (P.Sequence()) RelationPrograms<float>.GramForward(P, Buf(Xs), Buf(Output), default, Buf(Output), B, Ds, normalize: false, Eps);
    }
}

/// <summary>Cosine-similarity matrix (CosineSimilarityMatrix.cs): norms, unit rows, Gram.</summary>
internal sealed class CosineOp : KernelOp
{
    readonly ArrayView<float> _norms, _unit;

    public CosineOp(IlgpuDevice d, float[] xs, float[] xt, int b, int ds, int dt) : base(d, xs, xt, b, ds, dt)
    {
        _norms = Alloc(b);
        _unit = Alloc((long)b * ds);
        Output = Alloc((long)b * b);
    }

    public override bool IsLoss => false;

    public override void Forward()
    {
        using (P.Sequence()) RelationPrograms<float>.CosineForward(P, Buf(Xs), Buf(_norms), Buf(_unit), Buf(Output), 1, B, Ds, Eps);
    }
}

/// <summary>RKD pdist (PairwiseDistances.cs): centred Gram, distance epilogue.</summary>
internal sealed class PdistOp : KernelOp
{
    readonly ArrayView<float> _xc;

    public PdistOp(IlgpuDevice d, float[] xs, float[] xt, int b, int ds, int dt) : base(d, xs, xt, b, ds, dt)
    {
        _xc = Alloc((long)b * ds);
        Output = Alloc((long)b * b);
    }

    public override bool IsLoss => false;

    public override void Forward()
    {
        using (P.Sequence()) RelationPrograms<float>.DistanceForward(P, Buf(Xs), Buf(_xc), Buf(Output), B, Ds, squared: false, Eps);
    }
}

/// <summary>Triplet angles (TripletAngles.cs): centred Gram, leg tables, the b³ angle pass.</summary>
internal sealed class AnglesOp : KernelOp
{
    readonly ArrayView<float> _xc, _g, _inv, _ginv;

    public AnglesOp(IlgpuDevice d, float[] xs, float[] xt, int b, int ds, int dt) : base(d, xs, xt, b, ds, dt)
    {
        _xc = Alloc((long)b * ds);
        _g = Alloc((long)b * b);
        _inv = Alloc((long)b * b);
        _ginv = Alloc((long)b * b);
        Output = Alloc((long)b * b * b);
    }

    public override bool IsLoss => false;

    public override void Forward()
    {
        using (P.Sequence()) RelationPrograms<float>.AnglesForward(P, Buf(Xs), Buf(_xc), Buf(_g), Buf(_inv), Buf(_ginv), Buf(Output), B, Ds, Eps);
    }
}
