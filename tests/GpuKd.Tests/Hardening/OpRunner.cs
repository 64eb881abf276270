using NUnit.Framework;
using NUnit.Framework.Constraints;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Tests;

/// <summary>Runs a <see cref="PublicOp"/> forward and backward the way the hardening tests compare it.</summary>
public static class OpRunner
{
    /// <summary>
    /// Value and the gradient of every input for L = Σ W ⊙ op(inputs) (W fixed, <see cref="Autodiff.Weights"/>).
    /// Each input keeps its layout: the op sees exactly the view passed (strides, offset).
    /// </summary>
    /// <param name="op">The op.</param>
    /// <param name="inputs">Its inputs.</param>
    /// <param name="weightsVia">Round W through this dtype first (to compare a float16 run with a float32 one).</param>
    public static (Tensor Value, Tensor[] Grads) Run(PublicOp op, Tensor[] inputs, ScalarType? weightsVia = null)
    {
        var leaves = inputs.Select(x => x.detach().requires_grad_(true)).ToArray();
        var value = op.Call(leaves);
        var w = Autodiff.Weights(value.shape, ScalarType.Float64);
        if (weightsVia is { } via) w = w.to(via);
        w = w.to(value.dtype);
        (value * w).sum().backward();
        return (value.detach(), leaves.Select(l => l.grad ?? throw new InvalidOperationException($"{op.Name}: no gradient for an input")).ToArray());
    }

    /// <summary>True if the value and every gradient are bit-identical.</summary>
    public static bool Identical((Tensor Value, Tensor[] Grads) a, (Tensor Value, Tensor[] Grads) b)
        => Tolerances.Identical(a.Value, b.Value) && a.Grads.Zip(b.Grads).All(p => Tolerances.Identical(p.First, p.Second));

    /// <summary>Copies that outlive the caller's dispose scope (for reference results kept across scopes).</summary>
    public static (Tensor Value, Tensor[] Grads) Keep((Tensor Value, Tensor[] Grads) r)
        => (r.Value.clone().DetachFromDisposeScope(), r.Grads.Select(g => g.clone().DetachFromDisposeScope()).ToArray());

    /// <summary>
    /// An <see cref="ArgumentException"/> (or subclass) whose ParamName is <paramref name="arg"/> and whose own
    /// message text (before .NET's "(Parameter '…')" suffix) names it too.
    /// </summary>
    public static IResolveConstraint ThrowsNaming(string arg)
        => Throws.InstanceOf<ArgumentException>()
                 .With.Property(nameof(ArgumentException.ParamName)).EqualTo(arg)
                 .And.Message.Matches($@"(^|\W){arg}\W.*\(Parameter '{arg}'\)|^Value cannot be null\. \(Parameter '{arg}'\)$");
}
