using static TorchSharp.torch;

namespace GpuKd;

/// <summary>How IRG edge losses pair student layers with teacher layers (REFERENCE.md IRG).</summary>
public enum IrgPairing
{
    /// <summary>Student layer l with teacher layer l (the lists have the same length).</summary>
    OneToOne,
    /// <summary>The teacher's last layer guides every student layer.</summary>
    OneToMany,
}

/// <summary>What one network hands the IRG loss module: its guided layers (in depth order) and,
/// optionally, its logits.</summary>
/// <param name="Layers">Feature maps [b, …], shallow to deep.</param>
/// <param name="Logits">Logits [b, K], or null to leave out the vertex loss.</param>
public sealed record IrgFeatures(IReadOnlyList<Tensor> Layers, Tensor? Logits = null);
