using GpuKd.Kernels.Ilgpu;

namespace GpuKd.KernelBench;

/// <summary>Command-line options (see <see cref="Usage"/>).</summary>
internal sealed record Options
{
    public string Accelerator { get; init; } = "auto";
    public string? Sizes { get; init; }
    public string? Csv { get; init; }
    public string? Ptx { get; init; }
    public HashSet<string>? Ops { get; init; }
    public bool Validate { get; init; } = true;
    public bool ValidateOnly { get; init; }
    public double BudgetMs { get; init; } = 1500;
    public int[]? Batches { get; init; }
    public int[]? Widths { get; init; }
    public ProductKernel Product { get; init; } = ProductKernel.Auto;
    public (int B, int Ds, int Dt)? ValidationSize { get; init; }

    public const string Usage = """
        GpuKd.KernelBench — times the ILGPU kernels of GpuKd without TorchSharp.
          --accelerator cuda|cpu|auto   (auto: CUDA if present, else ILGPU's CPU accelerator)
          --sizes small|full            (default: full on CUDA, small on the CPU accelerator)
          --batches B[,B...] --widths D[,D...]   override the sizes' batches / feature widths
          --ops NAME[,NAME...]          only these ops (gram, cosine, pdist, triplet_angles,
                                        rkd_distance, rkd_angle, sp, cc, irg_edge)
          --csv FILE                    write the measurements as CSV
          --ptx DIR                     write the PTX of every kernel (for ptxas -v), then continue
          --budget-ms MS                time budget per measurement (default 1500; ≥ 3 runs on CUDA, 2 on the CPU)
          --no-validate | --validate-only
          --validation-size B,DS,DT     validate at this size (default 33,36,20 on CUDA, 9,6,11 on the CPU)
          --product auto|tiled|naive    the product kernel (default auto; validation runs both unless forced)
        Exit code: 0 ok, 1 a validation check failed or a measurement errored, 2 usage / no CUDA.
        """;

    public static Options Parse(string[] args)
    {
        var o = new Options();
        for (int i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            o = args[i] switch
            {
                "--accelerator" => o with { Accelerator = Check(Next(), "cuda", "cpu", "auto") },
                "--sizes" => o with { Sizes = Check(Next(), "small", "full") },
                "--csv" => o with { Csv = Next() },
                "--ptx" => o with { Ptx = Next() },
                "--ops" => o with { Ops = Next().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet() },
                "--batches" => o with { Batches = Ints(Next()) },
                "--widths" => o with { Widths = Ints(Next()) },
                "--budget-ms" => o with { BudgetMs = double.Parse(Next(), System.Globalization.CultureInfo.InvariantCulture) },
                "--no-validate" => o with { Validate = false },
                "--validate-only" => o with { ValidateOnly = true },
                "--product" => o with { Product = Enum.Parse<ProductKernel>(Check(Next(), "auto", "tiled", "naive"), ignoreCase: true) },
                "--validation-size" => o with { ValidationSize = Triple(Next()) },
                _ => throw new ArgumentException($"unknown option {args[i]}"),
            };
        }
        var unknown = o.Ops?.Except(OpCatalog.All.Select(s => s.Name)).ToList();
        if (unknown is { Count: > 0 }) throw new ArgumentException($"unknown op(s): {string.Join(", ", unknown)}");
        return o;
    }

    static int[] Ints(string v)
    {
        var r = v.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(x => int.TryParse(x, out int n) && n >= 2 ? n : 0).ToArray();
        return r.Length > 0 && r.All(n => n > 0) ? r : throw new ArgumentException($"expected integers ≥ 2 separated by commas, got '{v}'");
    }

    static (int, int, int) Triple(string text)
    {
        var v = Ints(text);
        return v.Length == 3 ? (v[0], v[1], v[2]) : throw new ArgumentException($"expected B,DS,DT, got '{text}'");
    }

    static string Check(string v, params string[] allowed)
        => allowed.Contains(v) ? v : throw new ArgumentException($"expected one of {string.Join("|", allowed)}, got '{v}'");
}
