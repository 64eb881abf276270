namespace GpuKd.KernelBench;

/// <summary>Deterministic standard-normal features (seeded; Box–Muller), in float32 for the kernels.</summary>
internal static class Inputs
{
    public static float[] Normal(int count, int seed)
    {
        var rng = new Random(seed);
        var v = new float[count];
        for (int i = 0; i < count; i += 2)
        {
            double u1 = 1 - rng.NextDouble(), u2 = rng.NextDouble();
            double r = Math.Sqrt(-2 * Math.Log(u1));
            v[i] = (float)(r * Math.Cos(2 * Math.PI * u2));
            if (i + 1 < count) v[i + 1] = (float)(r * Math.Sin(2 * Math.PI * u2));
        }
        return v;
    }
}
