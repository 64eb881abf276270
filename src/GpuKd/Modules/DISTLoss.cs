using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace GpuKd.Modules;

/// <summary>
/// DIST loss as a module: <c>forward(student_logits, teacher_logits)</c> = <see cref="gpukd.functional.dist_loss"/> with
/// this module's beta, gamma, temperature and <c>reduction</c> (shapes, cost and memory there). Create it with
/// <see cref="gpukd.DISTLoss"/>.
/// </summary>
public sealed class DISTLoss : Loss<Tensor, Tensor, Tensor>
{
    /// <summary>Weight of the inter-class (row) relation.</summary>
    public double beta { get; }

    /// <summary>Weight of the intra-class (column) relation.</summary>
    public double gamma { get; }

    /// <summary>The softmax temperature τ (the loss is scaled by τ²).</summary>
    public double temperature { get; }

    internal DISTLoss(double beta, double gamma, double temperature, nn.Reduction reduction) : base(reduction)
    {
        if (!double.IsFinite(beta)) throw new ArgumentException($"beta must be finite, got {beta}.", nameof(beta));
        if (!double.IsFinite(gamma)) throw new ArgumentException($"gamma must be finite, got {gamma}.", nameof(gamma));
        Validate.Positive(temperature, nameof(temperature));
        Reductions.MeanOrSumOfParts(reduction, "DISTLoss", "b row correlations and K column correlations");
        this.beta = beta;
        this.gamma = gamma;
        this.temperature = temperature;
    }

    /// <summary>The DIST loss of student logits [b, K] against teacher logits [b, K]; a 0-d tensor.</summary>
    public override Tensor forward(Tensor student_logits, Tensor teacher_logits)
        => gpukd.functional.dist_loss(student_logits, teacher_logits, beta, gamma, temperature, reduction);
}
