using BenchmarkDotNet.Running;

// GpuKd benchmarks: each op beside its reference composition (the baseline), on the same
// inputs, forward + backward. Examples (from the repository root):
//   dotnet run -c Release --project bench/GpuKd.Bench -- --filter '*' --job short
//   dotnet run -c Release --project bench/GpuKd.Bench -- --filter '*RkdAngle*' --job short
//   dotnet run -c Release --project bench/GpuKd.Bench -- --list flat
//   dotnet run -c Release --project bench/GpuKd.Bench -- --peak rkd-angle     (measured peak memory grid)
//   dotnet run -c Release --project bench/GpuKd.Bench -- --sweep all         (scaling CSV + log-log PNG plots)
//
// Toolchain: BenchmarkDotNet's default (out-of-process) toolchain works here. It builds a
// generated project under bench/GpuKd.Bench/bin/Release/net10.0/<job>/, which MSBuild places
// under this repository, so the root Directory.Build.targets patches that build's own copy
// of libLibTorchSharp.so (DESIGN §7) and libtorch loads in the benchmark process. Add
// `--inProcess` to skip that extra build (~45 s on 2 cores) at the cost of process isolation.
if (args.Length > 0 && args[0] == "--sweep") return GpuKd.Bench.Sweep.Run(args);
if (args.Length > 0 && args[0].StartsWith("--peak")) return GpuKd.Bench.PeakMemory.Run(args);
if (args.Length > 0 && args[0] == "--gemm-probe") return GpuKd.Bench.GemmProbe.Run();
if (args.Length > 0 && args[0] == "--skd-probe") return GpuKd.Bench.SkdProbe.Run(long.Parse(args[1]));
if (args.Length > 0 && args[0] == "--skd-gram-probe") return GpuKd.Bench.SkdGramProbe.Run(long.Parse(args[1]));
if (args.Length > 0 && args[0] == "--skd-direct-probe") return GpuKd.Bench.SkdDirectProbe.Run(long.Parse(args[1]));
if (args.Length > 0 && args[0] == "--pkt-probe") return GpuKd.Bench.PktProbe.Run(int.Parse(args[1]), int.Parse(args[2]));
if (args.Length > 0 && args[0] == "--gram-probe") return GpuKd.Bench.GramProbe.Run(int.Parse(args[1]), int.Parse(args[2]));
if (args.Length > 0 && args[0] == "--skd-time") return GpuKd.Bench.SkdTiming.Run(args);
// --skd-pixel-probe B K SIDE: the pixel-wise pass alone and the whole op, phase by phase (GPUKD_CPU_THREADS=dotnet: the .NET pool)
if (args.Length > 0 && args[0] == "--skd-pixel-probe") return GpuKd.Bench.SkdPixelProbe.Run(long.Parse(args[1]), long.Parse(args[2]), long.Parse(args[3]));
if (args.Length > 0 && args[0] == "--skd-pixel-time") return GpuKd.Bench.SkdPixelTiming.Run(args);
BenchmarkSwitcher.FromAssembly(typeof(GpuKd.Bench.RelationBench).Assembly).Run(args);
return 0;
