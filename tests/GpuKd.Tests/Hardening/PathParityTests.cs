using NUnit.Framework;
using static TorchSharp.torch;
using static GpuKd.Tests.OpRunner;

namespace GpuKd.Tests;

/// <summary>
/// The CPU fast path against the programs, op by op (<see cref="PublicOps"/>): the CPU fast path's hand-vectorised
/// epilogues (SP, IRG edge, the angle passes, the RKD distance loss, …) are a second implementation of the maths the
/// programs' kernels run from one source (<c>kernels/Maths</c>, compiled for CUDA and run here on ILGPU's CPU
/// accelerator). Same inputs on both, in float64: value and every gradient agree to 1e-10 (norm-relative) — on random
/// rows and on rows with an exact duplicate and a zero row, where the degenerate branches (zero legs, clamped norms,
/// the distance floor) are taken.
/// </summary>
public sealed class PathParityTests
{
    [TestCaseSource(typeof(PublicOps), nameof(PublicOps.Names))]
    public void The_cpu_fast_path_agrees_with_the_programs(string name)
    {
        using var scope = NewDisposeScope();
        var op = PublicOps.Get(name);
        foreach (var (b, degenerate) in new[] { (Math.Max(op.MinBatch, 3), false), (Math.Max(op.MinBatch, 6), true) })
        {
            var inputs = op.Inputs(b, ScalarType.Float64, salt: 5);
            if (degenerate)
                foreach (var x in inputs)
                {
                    // Row/image 1 duplicates row 0, the last one is zero (batch axis 0; batched unary ops [2, b, D]: axis 1).
                    var rows = x.shape[0] == b ? x : x.transpose(0, 1);
                    rows[1] = rows[0].clone();
                    rows[b - 1] = zeros_like(rows[b - 1]);
                }
            (Tensor Value, Tensor[] Grads) cpu, programs;
            using (gpukd.use_backend(KdBackend.Cpu)) cpu = Run(op, inputs);
            using (gpukd.use_backend(KdBackend.Ilgpu)) programs = Run(op, inputs);
            string at = $"{name} b={b}{(degenerate ? " duplicate+zero rows" : "")}";
            Assert.That(cpu.Value.isfinite().all().item<bool>(), Is.EqualTo(programs.Value.isfinite().all().item<bool>()), $"{at}: finiteness");
            Tolerances.AssertClose(programs.Value, cpu.Value, Tolerances.Float64Parity, $"{at}: value", floor: 1e-6);
            for (int k = 0; k < cpu.Grads.Length; k++)
                Tolerances.AssertClose(programs.Grads[k], cpu.Grads[k], Tolerances.Float64Parity, $"{at}: gradient of {op.Args[k]}", floor: 1e-6);
        }
    }
}
