using static TorchSharp.torch;

namespace GpuKd.Cli.Demo;

/// <summary>
/// The segmentation set: 32×32 RGB images of 1–4 filled shapes (disk, square, triangle; each
/// randomly sized, rotated and coloured, with its own faint stripe texture) on a textured background
/// (two random sinusoidal gratings), later shapes occluding earlier ones, plus pixel noise.
/// Labels are per pixel: 0 background, 1 disk, 2 square, 3 triangle. Colour never tells the class;
/// the shape does. Deterministic from the seed, no download.
/// </summary>
internal static class ShapeData
{
    public const int Size = 32;

    public static readonly string[] ClassNames = ["background", "disk", "square", "triangle"];

    public static Dataset Generate(int count, int seed, double noise = 0.06)
    {
        var rng = new Random(seed);
        int hw = Size * Size;
        var pixels = new float[count * 3 * hw];
        var labels = new long[count * hw];
        for (int n = 0; n < count; n++)
            Draw(rng, pixels.AsSpan(n * 3 * hw, 3 * hw), labels.AsSpan(n * hw, hw), noise);
        return new Dataset(tensor(pixels, [count, 3, Size, Size]), tensor(labels, [count, Size, Size]), ClassNames.Length, ClassNames);
    }

    /// <summary>A random grating texture: colour, amplitude, two orientations and frequencies.</summary>
    sealed class Texture
    {
        readonly double[] _base = new double[3], _amp = new double[3];
        readonly double _f1x, _f1y, _f2x, _f2y, _p1, _p2;

        public Texture(Random r, double amplitude)
        {
            for (int ch = 0; ch < 3; ch++)
            {
                _base[ch] = Rng.Uniform(r, 0.15, 0.85);
                _amp[ch] = amplitude * Rng.Uniform(r, 0.3, 1);
            }
            double a1 = Rng.Uniform(r, 0, Math.PI), a2 = Rng.Uniform(r, 0, Math.PI);
            double k1 = Rng.Uniform(r, 0.3, 1.4), k2 = Rng.Uniform(r, 0.3, 1.4);
            (_f1x, _f1y, _f2x, _f2y) = (k1 * Math.Cos(a1), k1 * Math.Sin(a1), k2 * Math.Cos(a2), k2 * Math.Sin(a2));
            (_p1, _p2) = (Rng.Uniform(r, 0, 6.3), Rng.Uniform(r, 0, 6.3));
        }

        public double At(int ch, int x, int y) =>
            _base[ch] + _amp[ch] * 0.5 * (Math.Sin(_f1x * x + _f1y * y + _p1) + Math.Sin(_f2x * x + _f2y * y + _p2));
    }

    static void Draw(Random rng, Span<float> image, Span<long> label, double noise)
    {
        int hw = Size * Size;
        var background = new Texture(rng, 0.25);
        for (int y = 0; y < Size; y++)
        for (int x = 0; x < Size; x++)
            for (int ch = 0; ch < 3; ch++)
                image[ch * hw + y * Size + x] = (float)background.At(ch, x, y);
        label.Clear();

        int shapes = rng.Next(1, 5);
        for (int s = 0; s < shapes; s++)
        {
            int cls = rng.Next(1, 4);
            double cx = Rng.Uniform(rng, 6, Size - 6), cy = Rng.Uniform(rng, 6, Size - 6);
            double r = Rng.Uniform(rng, 3.5, 7), angle = Rng.Uniform(rng, 0, 2 * Math.PI);
            var texture = new Texture(rng, 0.15);
            double c = Math.Cos(angle), sn = Math.Sin(angle);
            for (int y = 0; y < Size; y++)
            for (int x = 0; x < Size; x++)
            {
                // Pixel centre in the shape's rotated frame, in units of r.
                double dx = x + 0.5 - cx, dy = y + 0.5 - cy;
                double u = (c * dx + sn * dy) / r, v = (-sn * dx + c * dy) / r;
                if (!Inside(cls, u, v)) continue;
                label[y * Size + x] = cls;
                for (int ch = 0; ch < 3; ch++) image[ch * hw + y * Size + x] = (float)texture.At(ch, x, y);
            }
        }
        for (int i = 0; i < image.Length; i++) image[i] += (float)(noise * Rng.Normal(rng));
    }

    static bool Inside(int cls, double u, double v) => cls switch
    {
        1 => u * u + v * v <= 1,
        2 => Math.Abs(u) <= 0.8 && Math.Abs(v) <= 0.8,   // about the disk's area
        // Triangle, apex (0, -1), base v = 0.75 from u = -1 to 1: below the base, inside both sides.
        _ => v <= 0.75 && v >= 1.75 * Math.Abs(u) - 1.0,
    };
}
