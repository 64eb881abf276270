using System.Globalization;
using GpuKd.KernelBench;
using GpuKd.Kernels.Ilgpu;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
if (args.Contains("--help") || args.Contains("-h"))
{
    Console.WriteLine(Options.Usage);
    return 0;
}
Options options;
try { options = Options.Parse(args); }
catch (ArgumentException e)
{
    Console.Error.WriteLine(e.Message);
    Console.Error.WriteLine(Options.Usage);
    return 2;
}
return Harness.Run(options, Console.Out);

namespace GpuKd.KernelBench
{
    /// <summary>The harness: device, optional PTX dump, validation, then the timed sweep.</summary>
    internal static class Harness
    {
        public const string CsvHeader = "impl,op,pass,b,d,ms_median,ms_min,reps,gflop,gflops,status,note";

        /// <summary>Runs the harness; <paramref name="shared"/> (tests) reuses a device whose kernels are
        /// already compiled instead of creating one (it is not disposed here).</summary>
        public static int Run(Options o, TextWriter log, IlgpuDevice? shared = null)
        {
            using var owned = shared is null ? IlgpuDevice.Create(forceCpu: o.Accelerator == "cpu") : null;
            var device = shared ?? owned!;
            lock (device.Gate) return RunOn(o, log, device);   // a shared device may have other users
        }

        static int RunOn(Options o, TextWriter log, IlgpuDevice device)
        {
            var acc = device.Accelerator;
            Describe(acc, log);
            var chosen = device.Product;
            device.Product = o.Product;
            try { return RunWith(o, log, device); }
            finally { device.Product = chosen; }
        }

        static int RunWith(Options o, TextWriter log, IlgpuDevice device)
        {
            var acc = device.Accelerator;
            log.WriteLine($"Product kernel: {o.Product.ToString().ToLowerInvariant()} (auto: register-tiled 64x64 blocks where they fill a quarter of the SMs, else naive 16x16)");
            int status = 0;
            // PTX first: it needs no GPU, so ptxas still gets its input when CUDA is missing.
            if (o.Ptx is not null && PtxDump.Write(o.Ptx, acc, log) > 0) status = 1;
            if (o.Accelerator == "cuda" && !device.IsCuda)
            {
                bool driver = System.Runtime.InteropServices.NativeLibrary.TryLoad("libcuda.so.1", out _);
                log.WriteLine($"No CUDA device found by ILGPU (libcuda.so.1 {(driver ? "loads, so the driver sees no usable device" : "cannot be loaded: no NVIDIA driver on the library path")}).");
                return 2;
            }

            if (o.Validate || o.ValidateOnly)
            {
                var (vb, vds, vdt) = o.ValidationSize ?? Validation.Size(device);
                log.WriteLine($"Validation vs naive float64 CPU references (b={vb}, Ds={vds}, Dt={vdt}, bar {Validation.Bar:g}):");
                foreach (var (op, what, product, error, passed) in Validation.Run(device, (vb, vds, vdt)))
                {
                    log.WriteLine($"  {op,-15} {what,-6} {product.ToString().ToLowerInvariant(),-6} {(what == "exact" ? "bits≠  " : "rel.err")} {error,10:0.00e+00}  {(passed ? "PASS" : "FAIL")}");
                    if (!passed) status = 1;
                }
            }
            if (o.ValidateOnly) return status;

            bool full = (o.Sizes ?? (device.IsCuda ? "full" : "small")) == "full";
            int[] batches = o.Batches ?? (full ? [256, 1024, 4096] : [16, 32]);
            int[] widths = o.Widths ?? (full ? [512, 2048] : [32]);
            using var csv = o.Csv is null ? null : new StreamWriter(o.Csv);
            csv?.WriteLine(CsvHeader);
            log.WriteLine($"{"op",-15} {"pass",-8} {"b",5} {"D",5} {"ms(median)",11} {"ms(min)",9} {"reps",4} {"GFLOP/s",9}");
            foreach (var spec in OpCatalog.All.Where(s => o.Ops is null || o.Ops.Contains(s.Name)))
                foreach (int b in batches.Where(b => b <= spec.MaxBatch))
                    foreach (int d in widths)
                        if (!Measure(device, spec, b, d, o, log, csv)) status = 1;
            return status;
        }

        static void Describe(Accelerator acc, TextWriter log)
        {
            log.WriteLine($"Accelerator: {acc.Name} ({acc.AcceleratorType}), {acc.MemorySize / (1L << 20)} MiB, " +
                          $"{acc.NumMultiprocessors} MPs, ≤ {acc.MaxNumThreadsPerGroup} threads/group, " +
                          $"{acc.MaxSharedMemoryPerGroup / 1024} KiB shared/group, warp {acc.WarpSize}");
            if (acc is CudaAccelerator c)
                log.WriteLine($"CUDA: {c.Architecture}, {c.InstructionSet}, driver {c.DriverVersion}, clock {c.ClockRate} kHz");
        }

        /// <summary>Times one op at one size (forward; for losses also forward + backward). A failure
        /// (e.g. out of device memory) is recorded as a row, not a crash.</summary>
        static bool Measure(IlgpuDevice device, OpCatalog.Spec spec, int b, int d, Options o, TextWriter log, StreamWriter? csv)
        {
            int warmup = device.IsCuda ? 2 : 1, minReps = device.IsCuda ? 3 : 2, maxReps = device.IsCuda ? 20 : 3;
            var passes = spec.IsLoss ? new[] { "fwd", "fwd+bwd" } : new[] { "fwd" };
            try
            {
                using var op = spec.Create(device, Inputs.Normal(b * d, 1), Inputs.Normal(b * d, 2), b, d, d);
                foreach (var pass in passes)
                {
                    bool backward = pass != "fwd";
                    Action run = backward ? () => { op.Forward(); op.Backward(); } : op.Forward;
                    var (median, min, reps) = Timing.Measure(run, device.Accelerator, warmup, minReps, maxReps, o.BudgetMs);
                    double gflop = spec.Flops(b, d, d, backward) / 1e9;
                    Row(log, csv, spec.Name, pass, b, d, median, min, reps, gflop, "ok", Note(spec.Name));
                }
                return true;
            }
            catch (Exception e)
            {
                string why = $"{e.GetType().Name}: {e.Message}".Replace(',', ';').Replace('\n', ' ');
                foreach (var pass in passes) Row(log, csv, spec.Name, pass, b, d, double.NaN, double.NaN, 0, spec.Flops(b, d, d, pass != "fwd") / 1e9, "error", why);
                return false;
            }
        }

        static string Note(string op) => op switch
        {
            "rkd_distance" => "mu: b^2 distances summed on the host",
            "irg_edge" => "row maxima combined on the host",
            "rkd_angle" => "b^2 partials summed on the host",
            _ => "",
        };

        static void Row(TextWriter log, StreamWriter? csv, string op, string pass, int b, int d, double median, double min, int reps, double gflop, string status, string note)
        {
            double gflops = gflop / (median / 1e3);
            log.WriteLine(status == "ok"
                ? $"{op,-15} {pass,-8} {b,5} {d,5} {median,11:F3} {min,9:F3} {reps,4} {gflops,9:F1}"
                : $"{op,-15} {pass,-8} {b,5} {d,5} {status}: {note}");
            log.Flush();
            csv?.WriteLine(string.Join(',', "gpukd", op, pass, b, d, F(median), F(min), reps, F(gflop), F(gflops), status, note));
            csv?.Flush();
        }

        static string F(double v) => double.IsNaN(v) || double.IsInfinity(v) ? "" : v.ToString("G6", CultureInfo.InvariantCulture);
    }
}
