using GpuKd.Kernels.Ilgpu;
using ILGPU;

namespace GpuKd.KernelBench;

/// <summary>G = XXᵀ of the student features (gram_matrix).</summary>
internal sealed class GramOp : KernelOp
{
    public GramOp(IlgpuDevice d, float[] xs, float[] xt, int b, int ds, int dt) : base(d, xs, xt, b, ds, dt)
        => Output = Alloc((long)b * b);

    public override bool IsLoss => false;

    public override void Forward() => K.Gram(Xs, Output, 1, B, Ds);
}

/// <summary>A = X̂X̂ᵀ with unit rows (cosine_similarity_matrix).</summary>
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
        K.RowNorms(Xs, _norms, B, Ds);
        K.ScaleRows(Xs, _norms, _unit, B, Ds, Eps);
        K.Gram(_unit, Output, 1, B, Ds);
    }
}

/// <summary>RKD pdist of centred rows (pairwise_distances, not squared).</summary>
internal sealed class PdistOp : KernelOp
{
    readonly ArrayView<float> _mean, _xc, _g;

    public PdistOp(IlgpuDevice d, float[] xs, float[] xt, int b, int ds, int dt) : base(d, xs, xt, b, ds, dt)
    {
        _mean = Alloc(ds);
        _xc = Alloc((long)b * ds);
        _g = Alloc((long)b * b);
        Output = Alloc((long)b * b);
    }

    public override bool IsLoss => false;

    public override void Forward()
    {
        K.Centre(Xs, _mean, _xc, B, Ds);
        K.Gram(_xc, _g, 1, B, Ds);
        K.DistanceForward(_g, _xc, Output, B, Ds, squared: false, Eps);
    }
}

/// <summary>RKD triplet angles ψ [b, b, b] (triplet_angles): the only op with a b³ output.</summary>
internal sealed class AnglesOp : KernelOp
{
    readonly ArrayView<float> _mean, _xc, _g, _inv, _ginv;

    public AnglesOp(IlgpuDevice d, float[] xs, float[] xt, int b, int ds, int dt) : base(d, xs, xt, b, ds, dt)
    {
        _mean = Alloc(ds);
        _xc = Alloc((long)b * ds);
        _g = Alloc((long)b * b);
        _inv = Alloc((long)b * b);
        _ginv = Alloc((long)b * b);
        Output = Alloc((long)b * b * b);
    }

    public override bool IsLoss => false;

    public override void Forward()
    {
        K.Centre(Xs, _mean, _xc, B, Ds);
        K.Gram(_xc, _g, 1, B, Ds);
        K.Legs(_g, _xc, _inv, _ginv, B, Ds, Eps);
        K.AngleForward(_g, _inv, Output, B);
    }
}
