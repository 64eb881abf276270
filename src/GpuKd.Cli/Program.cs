using GpuKd.Cli;
using GpuKd.Cli.Demo;

// gpukd: the command-line program of GpuKd (run it as ./gpukd from the repository root).
string Usage = $"""
    usage: gpukd [command]

      (none)          the main job: check, then demo, then bench --quick (8 min on a loaded 2-core VM)
      check           value and gradient of every op, backend and dtype vs the float64
                      reference; exit code 1 if any row fails
      bench [--quick] [--only OP,...]
                      GpuKd (CPU backend) beside the reference compositions: forward+backward
                      median time and peak extra memory per op and size (--only: rows whose op
                      name starts with one of the given names, e.g. --only cc,irg)
      {DemoOptions.Usage}
      --help          this text

    environment: GPUKD_BACKEND=auto|cpu|ilgpu (default backend), GPUKD_CHECK=1 (NaN/Inf input check),
                 GPUKD_BENCH_THREADS=n (bench: libtorch threads, which the fused CPU loops follow)
    careful benchmarks: dotnet run -c Release --project bench/GpuKd.Bench -- --filter '*' --job short
    """;

var stdout = Console.Out;
switch (args)
{
    case []:
        {
            int failed = Check.Run(stdout);
            stdout.WriteLine();
            int demo = DemoRunner.Run(stdout, new DemoOptions());
            stdout.WriteLine();
            Bench.Run(stdout, quick: true);
            return failed > 0 || demo != 0 ? 1 : 0;
        }
    case ["check"]:
        return Check.Run(stdout) > 0 ? 1 : 0;
    case ["bench"]:
        Bench.Run(stdout, quick: false);
        return 0;
    case ["bench", "--quick"]:
        Bench.Run(stdout, quick: true);
        return 0;
    case ["bench", "--only", var only]:
        Bench.Run(stdout, quick: false, only.Split(','));
        return 0;
    case ["bench", "--quick", "--only", var only]:
        Bench.Run(stdout, quick: true, only.Split(','));
        return 0;
    case ["demo", .. var demoArgs]:
        {
            DemoOptions options;
            try { options = DemoOptions.Parse(demoArgs); }
            catch (ArgumentException e)
            {
                Console.Error.WriteLine($"gpukd demo: {e.Message}");
                Console.Error.WriteLine(Usage);
                return 2;
            }
            return DemoRunner.Run(stdout, options);
        }
    case ["--help" or "-h" or "help"]:
        stdout.WriteLine(Usage);
        return 0;
    default:
        Console.Error.WriteLine($"gpukd: unknown arguments '{string.Join(' ', args)}'");
        Console.Error.WriteLine(Usage);
        return 2;
}
