using System.Diagnostics;
using static TorchSharp.torch;

namespace GpuKd.Bench;

/// <summary>Probe: float32 vs float64 libtorch GEMM rates on this machine at the pair-wise loss's shapes.</summary>
public static class GemmProbe
{
    public static int Run()
    {
        foreach (var dt in new[] { ScalarType.Float32, ScalarType.Float64 })
        {
            var a = randn([512, 4096], dtype: dt);
            var g = zeros([512, 512], dtype: dt);
            for (int w = 0; w < 2; w++) g.addmm_(a, a.t());
            var sw = Stopwatch.StartNew();
            for (int r = 0; r < 5; r++) g.addmm_(a, a.t());
            double s1 = sw.Elapsed.TotalSeconds;
            var sw2 = Stopwatch.StartNew();
            for (int r = 0; r < 5; r++) { using var x = a.t().mm(a.narrow(1, 0, 512)); }
            double s2 = sw2.Elapsed.TotalSeconds;
            Console.WriteLine($"{dt}: AAᵀ 512×4096 {5 * 2.0 * 512 * 512 * 4096 / s1 / 1e9:F1} GFLOP/s;  Aᵀ·A[:, :512] (4096×512×512) {5 * 2.0 * 4096 * 512 * 512 / s2 / 1e9:F1} GFLOP/s; threads {get_num_threads()}");
        }
        return 0;
    }
}

/// <summary>Probe: where the pair-wise loss's time goes (forward, backward, node normalisation).</summary>
public static class SkdProbe
{
    public static int Run(long side)
    {
        var s = randn([8, 128, side, side]);
        var t = randn([8, 512, side, side]);
        for (int r = 0; r < 3; r++)
        {
            var x = s.detach().requires_grad_(true);
            var sw = Stopwatch.StartNew();
            var l = gpukd.functional.skd_pairwise_loss(x, t, pool: SkdPool.None);
            double f = sw.Elapsed.TotalMilliseconds;
            sw.Restart();
            l.backward();
            double b = sw.Elapsed.TotalMilliseconds;
            sw.Restart();
            for (int i = 0; i < 8; i++) { using var _ = NewDisposeScope(); var ti = t[i].reshape(512, -1); var si = s[i].reshape(128, -1); GpuKd.Ops.SkdPairwiseLoss.Nodes(ti, 0, ti.shape[1], true); GpuKd.Ops.SkdPairwiseLoss.Nodes(si, 0, si.shape[1], true); }
            double nn = sw.Elapsed.TotalMilliseconds;
            Console.WriteLine($"forward {f:F0} ms, backward {b:F0} ms, nodes of all images {nn:F0} ms");
        }
        return 0;
    }
}
