namespace GpuKd.Cli.Demo;

/// <summary>
/// Options of <c>gpukd demo</c>. The defaults took 6.2 minutes on the loaded 2-core development VM (3.5 min CPU);
/// <c>--quick</c> (the CI smoke test) uses smaller sets and fewer epochs, every method included.
/// </summary>
internal sealed record DemoOptions
{
    public bool Quick { get; init; }
    public int Seed { get; init; } = 1;
    /// <summary>libtorch threads. Default 1: these nets are small enough that intra-op threads gain
    /// little, a single thread makes every run bitwise reproducible, and on a busy machine spinning
    /// OpenMP threads were measured 4–7× slower than one thread.</summary>
    public int Threads { get; init; } = 1;
    public int GlyphTrain { get; init; } = 3000;
    public int GlyphTest { get; init; } = 1000;
    public int ShapeTrain { get; init; } = 800;
    public int ShapeTest { get; init; } = 200;
    public int TeacherEpochs { get; init; } = 10;
    public int StudentEpochs { get; init; } = 10;
    public int SegTeacherEpochs { get; init; } = 15;
    public int SegStudentEpochs { get; init; } = 10;
    public int Batch { get; init; } = 64;
    public int SegBatch { get; init; } = 16;
    public double LearningRate { get; init; } = 2e-3;
    public string[]? Losses { get; init; }
    public string Out { get; init; } = Path.Combine("artifacts", "demo");

    public static DemoOptions Quick_ { get; } = new()
    {
        Quick = true, GlyphTrain = 1000, GlyphTest = 400, ShapeTrain = 128, ShapeTest = 64,
        TeacherEpochs = 5, StudentEpochs = 2, SegTeacherEpochs = 3, SegStudentEpochs = 2, Batch = 32,
    };

    /// <summary>Usage lines (indented for the program's usage text, after a two-space margin).</summary>
    public const string Usage = """
        demo [options]  trains a teacher, then a thin student alone and with each distillation loss,
                          on generated data (no download); prints test accuracy / mIoU, time per epoch
                          and peak memory per method; writes results and figures to the output folder
            --quick              small sets, few epochs (under 2 minutes; the CI smoke test)
            --epochs N           student epochs (both data sets; default 10)
            --teacher-epochs N   teacher epochs (both data sets; default 10 glyphs, 15 shapes)
            --batch N            classification batch (default 64); --seg-batch N (default 16)
            --losses a,b,...     methods besides the student alone: kd, rkd, rkd-ref, sp, cc, irg, nst, pkt, dist
                                 (and skd-pixel, skd-pair, skd once Structured KD is enabled); default all
            --lr X               Adam learning rate, every run (default 0.002)
            --seed N             data, initialisation and batch order (default 1)
            --threads N          libtorch threads (default 1: reproducible, and fastest on a busy machine)
            --out DIR            output folder (default artifacts/demo)
        """;

    /// <summary>Parses the arguments after <c>demo</c>; throws <see cref="ArgumentException"/> with a message on bad input.</summary>
    public static DemoOptions Parse(IReadOnlyList<string> args)
    {
        var o = args.Contains("--quick") ? Quick_ : new DemoOptions();
        for (int i = 0; i < args.Count; i++)
        {
            string a = args[i];
            if (a == "--quick") continue;
            string Value() => i + 1 < args.Count ? args[++i] : throw new ArgumentException($"{a} needs a value");
            int Int()
            {
                var v = Value();
                return int.TryParse(v, out int n) && n > 0 ? n : throw new ArgumentException($"{a} needs a positive integer, got '{v}'");
            }
            o = a switch
            {
                "--epochs" => Int() is var e ? o with { StudentEpochs = e, SegStudentEpochs = e } : o,
                "--teacher-epochs" => Int() is var t ? o with { TeacherEpochs = t, SegTeacherEpochs = t } : o,
                "--batch" => o with { Batch = Int() },
                "--seg-batch" => o with { SegBatch = Int() },
                "--seed" => o with { Seed = Int() },
                "--lr" => double.TryParse(Value(), System.Globalization.CultureInfo.InvariantCulture, out double lr) && lr > 0
                    ? o with { LearningRate = lr } : throw new ArgumentException("--lr needs a positive number"),
                "--threads" => o with { Threads = Int() },
                "--out" => o with { Out = Value() },
                "--losses" => o with { Losses = Value().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) },
                _ => throw new ArgumentException($"unknown demo option '{a}'"),
            };
        }
        return o;
    }
}
