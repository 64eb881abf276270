using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Modules;

/// <summary>
/// Similarity-preserving KD loss as a module: <c>forward(student, teacher)</c> =
/// <see cref="gpukd.functional.sp_loss(Tensor, Tensor)"/> (shapes, cost and memory there).
/// Create it with <see cref="gpukd.SPLoss"/>.
/// </summary>
public sealed class SPLoss : nn.Module<Tensor, Tensor, Tensor>
{
    internal SPLoss() : base(nameof(SPLoss)) { }

    /// <summary>The SP loss of student [b, …] against teacher [b, …]; a 0-d tensor.</summary>
    public override Tensor forward(Tensor student, Tensor teacher) => gpukd.functional.sp_loss(student, teacher);
}
