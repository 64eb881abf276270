using static TorchSharp.torch;

namespace GpuKd.Cli.Demo;

/// <summary>
/// An in-memory data set: images [N, C, H, W] float32 and labels — [N] int64 class indices for
/// classification, [N, H, W] int64 per-pixel classes for segmentation.
/// </summary>
internal sealed class Dataset(Tensor images, Tensor labels, int classes, string[] classNames) : IDisposable
{
    public Tensor Images { get; } = images;
    public Tensor Labels { get; } = labels;
    public int Classes { get; } = classes;
    public string[] ClassNames { get; } = classNames;
    public int Count => (int)Images.shape[0];

    public void Dispose()
    {
        Images.Dispose();
        Labels.Dispose();
    }
}

/// <summary>Small helpers shared by the generators: seeded Gaussian noise, clamping.</summary>
internal static class Rng
{
    /// <summary>A standard normal draw (Box–Muller) from a seeded <see cref="Random"/>.</summary>
    public static double Normal(Random r)
    {
        double u1 = 1.0 - r.NextDouble(), u2 = r.NextDouble();
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }

    public static double Uniform(Random r, double lo, double hi) => lo + (hi - lo) * r.NextDouble();
}
