using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Modules;

/// <summary>
/// FSP loss as a module: <c>forward(student_layers, teacher_layers)</c> = <see cref="gpukd.functional.fsp_loss"/> of the
/// two networks' consecutive layers with this module's <c>weights</c> and <c>reduction</c> (shapes, cost and memory
/// there). Create it with <see cref="gpukd.FSPLoss"/>.
/// </summary>
public sealed class FSPLoss : Loss<IReadOnlyList<Tensor>, IReadOnlyList<Tensor>, Tensor>
{
    internal FSPLoss(IReadOnlyList<double>? weights, nn.Reduction reduction) : base(reduction)
    {
        Reductions.MeanOrSum(reduction, nameof(FSPLoss), "the B·Ct·Cb entries of each layer pair's FSP matrices");
        if (weights is not null)
        {
            for (int i = 0; i < weights.Count; i++)
                if (!double.IsFinite(weights[i])) throw new ArgumentException($"weights[{i}] must be finite, got {weights[i]}.", nameof(weights));
            Weights = [.. weights];
        }
    }

    /// <summary>One weight per consecutive layer pair (a copy of those given), or null for 1 each; a count that does not
    /// match the layers handed to <see cref="forward"/> is rejected there.</summary>
    public IReadOnlyList<double>? Weights { get; }

    /// <summary>The FSP loss of the student's layers against the teacher's; a 0-d tensor.</summary>
    public override Tensor forward(IReadOnlyList<Tensor> student_layers, IReadOnlyList<Tensor> teacher_layers)
        => gpukd.functional.fsp_loss(student_layers, teacher_layers, Weights, reduction);
}
