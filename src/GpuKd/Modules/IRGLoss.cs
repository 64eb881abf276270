using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Modules;

/// <summary>
/// The IRG loss as a module: <c>forward(student, teacher)</c> = <see cref="gpukd.functional.irg_loss"/> of the
/// two networks' layers and logits, with the options given at creation, each part under
/// <see cref="Loss{T1, T2, TResult}.reduction"/> (Mean or Sum, as there; None refused). Shapes, cost and memory there.
/// Create it with <see cref="gpukd.IRGLoss"/>.
/// </summary>
public sealed class IRGLoss : Loss<IrgFeatures, IrgFeatures, Tensor>
{
    internal IRGLoss(IrgPairing pairing, double vertexWeight, double edgeWeight, double transformationWeight, bool differentiateMax,
        IReadOnlyList<(int from, int to)>? transitions, nn.Reduction reduction)
        : base(reduction)
    {
        Reductions.MeanOrSumOfParts(reduction, nameof(IRGLoss), "vertex: b·K entries, edge: b² per layer pair, transformation: b per transition");
        if (!Enum.IsDefined(pairing)) throw new ArgumentException($"pairing must be OneToOne or OneToMany, got {(int)pairing}.", "pairing");
        foreach (var (w, name) in new[] { (vertexWeight, "vertex_weight"), (edgeWeight, "edge_weight"), (transformationWeight, "transformation_weight") })
            if (!double.IsFinite(w)) throw new ArgumentException($"{name} must be finite, got {w}.", name);
        Pairing = pairing;
        VertexWeight = vertexWeight;
        EdgeWeight = edgeWeight;
        TransformationWeight = transformationWeight;
        DifferentiateMax = differentiateMax;
        if (transitions is not null)
        {
            foreach (var (from, to) in transitions)
                if (from < 0 || to < 0 || from == to)
                    throw new ArgumentException($"transitions must hold pairs of two different non-negative layer indices, got ({from}, {to}).", "transitions");
            Transitions = [.. transitions];
        }
    }

    /// <summary>Layer pairing of the edge loss.</summary>
    public IrgPairing Pairing { get; }
    /// <summary>Weight of the vertex (logits) term.</summary>
    public double VertexWeight { get; }
    /// <summary>Weight of the edge term.</summary>
    public double EdgeWeight { get; }
    /// <summary>Weight of the transformation term.</summary>
    public double TransformationWeight { get; }
    /// <summary>Whether the max normalisations carry gradient.</summary>
    public bool DifferentiateMax { get; }
    /// <summary>The (from, to) layer transitions of the transformation term (a copy of those given), or null for every
    /// consecutive pair; indices beyond the layers handed to <see cref="forward"/> are rejected there.</summary>
    public IReadOnlyList<(int from, int to)>? Transitions { get; }

    /// <summary>The IRG loss of the student's layers and logits against the teacher's; a 0-d tensor.</summary>
    public override Tensor forward(IrgFeatures student, IrgFeatures teacher)
    {
        ArgumentNullException.ThrowIfNull(student);
        ArgumentNullException.ThrowIfNull(teacher);
        return gpukd.functional.irg_loss(student.Layers, teacher.Layers, student.Logits, teacher.Logits, Pairing,
                                         VertexWeight, EdgeWeight, TransformationWeight, DifferentiateMax, Transitions, reduction);
    }
}
