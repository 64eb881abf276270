using GpuKd.Kernels.Cpu;
using GpuKd.Reference;
using static TorchSharp.torch;

namespace GpuKd.Bench;

/// <summary>Probe: where PKT's forward + backward goes on the CPU path, phase by phase (float32, student wants a
/// gradient, teacher not — the <c>--peak pkt</c> case), beside the whole op and the reference.
///   GPUKD_BENCH_THREADS=1 dotnet run -c Release --project bench/GpuKd.Bench -- --pkt-probe 256 512</summary>
public static unsafe class PktProbe
{
    public static int Run(int b, int d)
    {
        gpukd.backend = KdBackend.Cpu;
        Measurement.ApplyThreadSetting();
        var s = randn([b, d], generator: new Generator(42));
        var t = randn([b, d], generator: new Generator(43));
        float eps = 1e-7f;
        var timer = new PhaseTimer();
        static float* P(Tensor x) => GpuKd.Device.TensorMemory.Ptr<float>(x);
        for (int rep = 0; rep < 60; rep++)
        {
            using var scope = NewDisposeScope();
            timer.Time("whole gpukd", () => { using var _ = NewDisposeScope(); gpukd.functional.pkt_loss(s.detach().requires_grad_(true), t).backward(); });
            timer.Time("whole reference", () => { using var _ = NewDisposeScope(); ReferenceChannelLosses.PktLoss(s.detach().requires_grad_(true), t).backward(); });
            timer.Time("forward gpukd", () => { using var _ = NewDisposeScope(); gpukd.functional.pkt_loss(s.detach().requires_grad_(true), t); });
            timer.Time("forward reference", () => { using var _ = NewDisposeScope(); ReferenceChannelLosses.PktLoss(s.detach().requires_grad_(true), t); });
            Tensor ns = empty(b), nt = empty(b), us = null!, ut = null!, gs = null!, gt = null!, part = empty(b), h = null!, sym = null!, ubar = null!;
            timer.Time("norms x2", () => { CpuRows.RowNorms(P(s), P(ns), b, d); CpuRows.RowNorms(P(t), P(nt), b, d); });
            timer.Time("unit rows x2", () => { us = empty(b, d); ut = empty(b, d); CpuPkt.UnitRows(P(s), P(ns), P(us), b, d, eps); CpuPkt.UnitRows(P(t), P(nt), P(ut), b, d, eps); });
            timer.Time("gram x2 (mm u uT)", () => { gs = us.mm(us.t()); gt = ut.mm(ut.t()); });
            timer.Time("LossRows", () => CpuPkt.LossRows(P(gs), P(gt), P(part), b, eps));
            timer.Time("BackwardRows (student)", () => { h = empty_like(gs); CpuPkt.BackwardRows(P(gs), P(gt), P(h), b, eps, 1f / (b * b), false); });
            timer.Time("H + Hᵀ in place", () => { CpuPkt.Symmetrize(P(h), b); sym = h; });
            timer.Time("mm(sym, u)", () => ubar = sym.mm(us));
            timer.Time("UnitBackward", () => CpuPkt.UnitBackward(P(ubar), P(s), P(ns), b, d, eps));
        }
        timer.Print(10);
        return 0;
    }
}
