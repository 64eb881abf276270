using static TorchSharp.torch;

namespace GpuKd.Cli.Demo;

/// <summary>
/// The classification set: 10 classes of procedurally drawn 16×16 glyphs (ring, bar, L, T, X, +,
/// triangle, square, Z, V), each drawn as a polyline under a random affine jitter (rotation,
/// anisotropic scale, shear, shift), with a random stroke width, a short distractor stroke and
/// Gaussian pixel noise. Everything comes from one <see cref="Random"/>(seed): no download, and
/// the same seed gives the same images on every machine.
/// </summary>
internal static class GlyphData
{
    public const int Size = 16;

    public static readonly string[] ClassNames = ["ring", "bar", "L", "T", "X", "plus", "triangle", "square", "Z", "V"];

    // Strokes of each glyph in a unit box centred at (0, 0), y down; each inner array is one polyline.
    static readonly (double X, double Y)[][][] Strokes =
    [
        [Ring(0.32, 14)],
        [[(0, -0.38), (0, 0.38)]],
        [[(-0.22, -0.38), (-0.22, 0.32), (0.26, 0.32)]],
        [[(-0.32, -0.32), (0.32, -0.32)], [(0, -0.32), (0, 0.38)]],
        [[(-0.3, -0.34), (0.3, 0.34)], [(0.3, -0.34), (-0.3, 0.34)]],
        [[(-0.34, 0), (0.34, 0)], [(0, -0.34), (0, 0.34)]],
        [[(0, -0.36), (0.34, 0.3), (-0.34, 0.3), (0, -0.36)]],
        [[(-0.3, -0.3), (0.3, -0.3), (0.3, 0.3), (-0.3, 0.3), (-0.3, -0.3)]],
        [[(-0.3, -0.32), (0.3, -0.32), (-0.3, 0.32), (0.3, 0.32)]],
        [[(-0.32, -0.34), (0, 0.34), (0.32, -0.34)]],
    ];

    static (double, double)[] Ring(double r, int n) =>
        Enumerable.Range(0, n + 1).Select(i => (r * Math.Cos(2 * Math.PI * i / n), r * Math.Sin(2 * Math.PI * i / n))).ToArray();

    /// <summary><paramref name="count"/> glyphs, classes balanced and shuffled.</summary>
    public static Dataset Generate(int count, int seed, double noise = 0.25)
    {
        var rng = new Random(seed);
        var pixels = new float[count * Size * Size];
        var labels = new long[count];
        for (int n = 0; n < count; n++)
        {
            int k = n % ClassNames.Length;
            labels[n] = k;
            Draw(rng, Strokes[k], pixels.AsSpan(n * Size * Size, Size * Size), noise);
        }
        // Shuffle the order (Fisher–Yates, same rng) so that no batch is class-sorted.
        var order = Enumerable.Range(0, count).ToArray();
        for (int i = count - 1; i > 0; i--) { int j = rng.Next(i + 1); (order[i], order[j]) = (order[j], order[i]); }
        var shuffled = new float[pixels.Length];
        var shuffledLabels = new long[count];
        for (int i = 0; i < count; i++)
        {
            Array.Copy(pixels, order[i] * Size * Size, shuffled, i * Size * Size, Size * Size);
            shuffledLabels[i] = labels[order[i]];
        }
        return new Dataset(tensor(shuffled, [count, 1, Size, Size]), tensor(shuffledLabels, [count]), ClassNames.Length, ClassNames);
    }

    static void Draw(Random rng, (double X, double Y)[][] strokes, Span<float> image, double noise)
    {
        // Affine jitter: rotation ±20°, scale 0.75–1.1 per axis, shear ±0.25, shift ±1.5 px.
        double angle = Rng.Uniform(rng, -20, 20) * Math.PI / 180;
        double sx = Rng.Uniform(rng, 0.75, 1.1) * Size, sy = Rng.Uniform(rng, 0.75, 1.1) * Size, shear = Rng.Uniform(rng, -0.25, 0.25);
        double cx = Size / 2.0 + Rng.Uniform(rng, -1.5, 1.5), cy = Size / 2.0 + Rng.Uniform(rng, -1.5, 1.5);
        double c = Math.Cos(angle), s = Math.Sin(angle);
        (double, double) Map((double X, double Y) p)
        {
            double x = (p.X + shear * p.Y) * sx, y = p.Y * sy;
            return (cx + c * x - s * y, cy + s * x + c * y);
        }

        var segments = new List<(double, double, double, double)>();
        foreach (var line in strokes)
            for (int i = 0; i + 1 < line.Length; i++)
            {
                var (ax, ay) = Map(line[i]);
                var (bx, by) = Map(line[i + 1]);
                segments.Add((ax, ay, bx, by));
            }
        // A short random distractor stroke somewhere in the image (so one bright pixel run is not a class cue).
        double dx = Rng.Uniform(rng, 1, Size - 1), dy = Rng.Uniform(rng, 1, Size - 1), da = Rng.Uniform(rng, 0, Math.PI);
        segments.Add((dx, dy, dx + 3 * Math.Cos(da), dy + 3 * Math.Sin(da)));

        double half = Rng.Uniform(rng, 0.45, 0.85);   // half stroke width, pixels
        for (int y = 0; y < Size; y++)
        for (int x = 0; x < Size; x++)
        {
            double px = x + 0.5, py = y + 0.5, d = double.MaxValue;
            foreach (var (ax, ay, bx, by) in segments) d = Math.Min(d, SegmentDistance(px, py, ax, ay, bx, by));
            double ink = Math.Clamp(half + 0.5 - d, 0, 1);   // anti-aliased edge one pixel wide
            image[y * Size + x] = (float)(ink + noise * Rng.Normal(rng));
        }
    }

    static double SegmentDistance(double px, double py, double ax, double ay, double bx, double by)
    {
        double vx = bx - ax, vy = by - ay, len2 = vx * vx + vy * vy;
        double t = len2 > 0 ? Math.Clamp(((px - ax) * vx + (py - ay) * vy) / len2, 0, 1) : 0;
        double ex = px - (ax + t * vx), ey = py - (ay + t * vy);
        return Math.Sqrt(ex * ex + ey * ey);
    }
}
