using BenchmarkDotNet.Attributes;
using GpuKd.Reference;
using static TorchSharp.torch;

namespace GpuKd.Bench;

/// <summary>CC with each kernel at one mid size (the grid in <see cref="CcLossBench"/> uses the default).</summary>
public class CcKernelBench : LossBench
{
    [Params(256)] public override long B { get; set; }
    [Params(2048)] public override long D { get; set; }
    [Params(CcKernel.TaylorRbf, CcKernel.Rbf, CcKernel.Bilinear, CcKernel.BilinearRaw)] public CcKernel Kernel { get; set; }
    protected override Tensor Reference(Tensor s, Tensor t) => ReferenceLosses.CcLoss(s, t, Kernel);
    protected override Tensor Fused(Tensor s, Tensor t) => gpukd.functional.cc_loss(s, t, Kernel);
}

/// <summary>
/// Losses over several layers, as a network uses them: three student feature maps
/// [b, 16, 16, 16], [b, 32, 8, 8], [b, 64, 4, 4] against teacher maps of twice the channels
/// (IRG-t folds channel pairs), plus logits [b, 100]. One forward (+ backward) of every student
/// input per invocation; the teacher's tensors carry no gradient.
/// </summary>
public abstract class LayersBench : SideBySideBench
{
    Tensor[] _students = [], _teachers = [];
    Tensor _studentLogits = null!, _teacherLogits = null!;

    /// <summary>Batch size b.</summary>
    [Params(64, 256)] public long B { get; set; }

    protected abstract Tensor Reference(IReadOnlyList<Tensor> students, IReadOnlyList<Tensor> teachers, Tensor studentLogits, Tensor teacherLogits);
    protected abstract Tensor Fused(IReadOnlyList<Tensor> students, IReadOnlyList<Tensor> teachers, Tensor studentLogits, Tensor teacherLogits);

    [GlobalSetup]
    public void Setup()
    {
        gpukd.backend = KdBackend.Cpu;
        long[][] shapes = [[B, 16, 16, 16], [B, 32, 8, 8], [B, 64, 4, 4]];
        _students = shapes.Select((s, i) => randn(s, generator: new Generator((ulong)(10 + i)))).ToArray();
        _teachers = shapes.Select((s, i) => randn([s[0], 2 * s[1], s[2], s[3]], generator: new Generator((ulong)(20 + i)))).ToArray();
        _studentLogits = randn([B, 100], generator: new Generator(30));
        _teacherLogits = randn([B, 100], generator: new Generator(31));
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var t in _students.Concat(_teachers).Append(_studentLogits).Append(_teacherLogits)) t.Dispose();
    }

    delegate Tensor Loss(IReadOnlyList<Tensor> students, IReadOnlyList<Tensor> teachers, Tensor studentLogits, Tensor teacherLogits);

    protected override void Run(bool fused, bool backward)
    {
        using var scope = NewDisposeScope();
        var students = _students.Select(s => s.detach().requires_grad_(true)).ToArray();
        var value = (fused ? (Loss)Fused : Reference)(students, _teachers, _studentLogits.detach().requires_grad_(true), _teacherLogits);
        if (backward) value.backward();
    }
}

/// <summary>The full IRG loss (vertex + edge + transformation, default weights, one-to-one).</summary>
public class IrgLossBench : LayersBench
{
    protected override Tensor Reference(IReadOnlyList<Tensor> s, IReadOnlyList<Tensor> t, Tensor sl, Tensor tl) => ReferenceLosses.IrgLoss(s, t, sl, tl);
    protected override Tensor Fused(IReadOnlyList<Tensor> s, IReadOnlyList<Tensor> t, Tensor sl, Tensor tl) => gpukd.functional.irg_loss(s, t, sl, tl);
}

/// <summary>The IRG transformation loss of the first transition alone.</summary>
public class IrgTransformationBench : LayersBench
{
    protected override Tensor Reference(IReadOnlyList<Tensor> s, IReadOnlyList<Tensor> t, Tensor sl, Tensor tl) => ReferenceLosses.IrgTransformationLoss(s[0], s[1], t[0], t[1]);
    protected override Tensor Fused(IReadOnlyList<Tensor> s, IReadOnlyList<Tensor> t, Tensor sl, Tensor tl) => gpukd.functional.irg_transformation_loss(s[0], s[1], t[0], t[1]);
}

/// <summary>SP over the three layer pairs with weights (1, 2, 3).</summary>
public class SpLayersBench : LayersBench
{
    static readonly double[] Weights = [1, 2, 3];
    protected override Tensor Reference(IReadOnlyList<Tensor> s, IReadOnlyList<Tensor> t, Tensor sl, Tensor tl)
        => Enumerable.Range(0, s.Count).Select(l => ReferenceLosses.SpLoss(s[l], t[l]) * Weights[l]).Aggregate((a, b) => a + b);
    protected override Tensor Fused(IReadOnlyList<Tensor> s, IReadOnlyList<Tensor> t, Tensor sl, Tensor tl) => gpukd.functional.sp_loss(s, t, Weights);
}
