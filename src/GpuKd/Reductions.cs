using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd;

/// <summary>
/// The one rule for <c>reduction</c> (TorchSharp's <see cref="nn.Reduction"/>, default <see cref="nn.Reduction.Mean"/>)
/// that every GpuKd loss follows. <see cref="nn.Reduction.Mean"/> is the published loss: the mean over the loss's terms
/// (or the published normalisation where the authors divide by something else, stated per loss).
/// <see cref="nn.Reduction.Sum"/> is the sum over the same terms, i.e. Mean × the count of terms the mean divides by.
/// <see cref="nn.Reduction.None"/> returns the terms themselves where they are cheap (elementwise over a tensor no
/// larger than an input, or per sample / per pixel), and is refused, naming the terms, where they are the b×b, b³
/// or B·N² relation entries that a fused op reduces in its epilogue without ever storing: returning them would
/// cost the memory the op exists to save and need an unfused backward.
/// </summary>
internal static class Reductions
{
    /// <summary>The argument name every loss uses.</summary>
    public const string Name = "reduction";

    /// <summary>Throws unless <paramref name="reduction"/> is None, Mean or Sum.</summary>
    public static void Defined(nn.Reduction reduction)
    {
        if (reduction != nn.Reduction.None && reduction != nn.Reduction.Mean && reduction != nn.Reduction.Sum)
            throw new ArgumentException($"reduction must be Mean, Sum or None, got {(int)reduction}.", Name);
    }

    /// <summary>Mean or Sum for <paramref name="loss"/>, whose per-term values are <paramref name="terms"/>: None is
    /// refused with a message that says what it would materialise.</summary>
    public static void MeanOrSum(nn.Reduction reduction, string loss, string terms)
    {
        Defined(reduction);
        if (reduction == nn.Reduction.None)
            throw new ArgumentException(
                $"{loss} does not offer reduction None: its terms are {terms}, which the fused loss never materialises " +
                "(that is the memory it saves); use Mean or Sum.", Name);
    }

    /// <summary>Mean or Sum for <paramref name="loss"/>, a weighted sum of parts whose terms have different shapes
    /// (<paramref name="parts"/>): there is no one tensor of terms for None to return.</summary>
    public static void MeanOrSumOfParts(nn.Reduction reduction, string loss, string parts)
    {
        Defined(reduction);
        if (reduction == nn.Reduction.None)
            throw new ArgumentException(
                $"{loss} does not offer reduction None: it adds weighted parts whose terms have different shapes ({parts}); " +
                "use Mean or Sum, or call the parts' functions.", Name);
    }

    /// <summary>The loss under <paramref name="reduction"/> from the fused op's mean over <paramref name="count"/>
    /// terms: the mean itself, or mean × count (one scalar multiply: the sum over the same terms, to rounding).</summary>
    public static Tensor FromMean(Tensor mean, nn.Reduction reduction, double count)
        => reduction == nn.Reduction.Sum ? mean * count : mean;
}
