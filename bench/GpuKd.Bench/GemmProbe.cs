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

/// <summary>Probe: the forward's Gram products one by one.</summary>
public static class SkdGramProbe
{
    public static int Run(long side)
    {
        var s = randn([8, 128, side * side]);
        var t = randn([8, 512, side * side]);
        long n = side * side;
        for (int r = 0; r < 3; r++)
        {
            double tn = 0, tss = 0, tst = 0, ttt = 0, tblk = 0;
            for (int i = 0; i < 8; i++)
            {
                using var scope = NewDisposeScope();
                var sw = Stopwatch.StartNew();
                var sh = GpuKd.Ops.SkdPairwiseLoss.Nodes(s[i], 0, n, true).Hat;
                var th = GpuKd.Ops.SkdPairwiseLoss.Nodes(t[i], 0, n, true).Hat;
                tn += sw.Elapsed.TotalMilliseconds; sw.Restart();
                var gss = zeros(128, 128, dtype: ScalarType.Float64); gss.addmm_(sh, sh.t());
                tss += sw.Elapsed.TotalMilliseconds; sw.Restart();
                var gst = zeros(128, 512, dtype: ScalarType.Float64); gst.addmm_(sh, th.t());
                tst += sw.Elapsed.TotalMilliseconds; sw.Restart();
                var gtt = zeros(512, 512, dtype: ScalarType.Float64); gtt.addmm_(th, th.t());
                ttt += sw.Elapsed.TotalMilliseconds; sw.Restart();
                for (long a0 = 0; a0 < 512; a0 += 128) { using var blk = th.narrow(0, a0, 128).mm(th.narrow(0, a0, 512 - a0).t()); }
                tblk += sw.Elapsed.TotalMilliseconds;
            }
            Console.WriteLine($"nodes {tn:F0} ms, SᵀS {tss:F0}, SᵀT {tst:F0}, TᵀT {ttt:F0}, TᵀT upper blocks {tblk:F0}  (TᵀT rate {8 * 2.0 * 512 * 512 * n / ttt / 1e6:F1} GFLOP/s)");
        }
        return 0;
    }
}

/// <summary>Probe: the direct path's pieces at a small map.</summary>
public static class SkdDirectProbe
{
    public static int Run(long side)
    {
        if (Environment.GetEnvironmentVariable("PROBE_THREADS") is string nt) set_num_threads(int.Parse(nt));
        long n = side * side;
        var s = randn([8, 128, n]);
        var t = randn([8, 512, n]);
        for (int r = 0; r < 3; r++)
        {
            double tn = 0, td = 0, tsum = 0, tg = 0;
            for (int i = 0; i < 8; i++)
            {
                using var scope = NewDisposeScope();
                var sw = Stopwatch.StartNew();
                var sh = GpuKd.Ops.SkdPairwiseLoss.Nodes(s[i], 0, n, true).Hat;
                var th = GpuKd.Ops.SkdPairwiseLoss.Nodes(t[i], 0, n, true).Hat;
                tn += sw.Elapsed.TotalMilliseconds; sw.Restart();
                var d = sh.t().mm(sh).sub_(th.t().mm(th));
                td += sw.Elapsed.TotalMilliseconds; sw.Restart();
                double v = d.square().sum().item<double>();
                tsum += sw.Elapsed.TotalMilliseconds; sw.Restart();
                var g = sh.mm(d.t());
                tg += sw.Elapsed.TotalMilliseconds;
            }
            Console.WriteLine($"nodes {tn:F0} ms, D {td:F0}, ΣD² {tsum:F0}, ŜᵀD {tg:F0}");
        }
        var sf = randn([8, 128, side, side]).requires_grad_(true);
        var tf = randn([8, 512, side, side]);
        for (int r = 0; r < 3; r++)
        {
            var sw = Stopwatch.StartNew();
            var l = GpuKd.Ops.SkdPairwiseLoss.Apply(sf, tf, true);
            double f = sw.Elapsed.TotalMilliseconds; sw.Restart();
            l.backward();
            Console.WriteLine($"op forward {f:F0} ms, backward {sw.Elapsed.TotalMilliseconds:F0} ms");
        }
        return 0;
    }
}
