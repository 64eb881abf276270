using System.Globalization;
using System.Text;

namespace GpuKd.Cli.Demo;

/// <summary>The results table: printed to the console and written as results.md and results.csv.</summary>
internal static class Report
{
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    static string MetricName(DemoTask t) => t == DemoTask.Classification ? "test accuracy" : "test mIoU";

    /// <summary>Rows in table order; Δ is against the same task's student-alone row.</summary>
    static IEnumerable<string[]> Rows(IReadOnlyList<RunResult> results)
    {
        foreach (var r in results)
        {
            var alone = results.FirstOrDefault(a => a.Task == r.Task && a.Key == Methods.Alone);
            string delta = r.Key is Methods.Alone or "teacher" || alone is null ? "" : $"{100 * (r.Metric - alone.Metric):+0.0;-0.0;0.0}";
            yield return [r.Task == DemoTask.Classification ? "glyphs" : "shapes", r.Name, MetricName(r.Task),
                $"{100 * r.Metric:F1}%", delta, $"{r.SecondsPerEpoch:F2}", r.LossMs is { } ms ? $"{ms:F2}" : "",
                r.LossMs is null ? "" : PeakRss.Format(r.LossPeakBytes), PeakRss.Format(r.PeakBytes)];
        }
    }

    static readonly string[] Headers = ["data", "method", "metric", "value", "Δ vs alone (pts)", "s / epoch", "loss ms", "loss peak mem", "run peak mem"];

    public static void Print(TextWriter w, IReadOnlyList<RunResult> results)
    {
        var table = new Table(Headers);
        foreach (int i in new[] { 3, 4, 5, 6, 7, 8 }) table.RightAligned.Add(i);
        foreach (var row in Rows(results)) table.Add(row);
        table.Print(w);
    }

    public static void WriteMarkdown(string path, IReadOnlyList<RunResult> results, string header)
    {
        var sb = new StringBuilder(header).AppendLine().AppendLine();
        sb.AppendLine("| " + string.Join(" | ", Headers) + " |");
        sb.AppendLine("|---|---|---|---:|---:|---:|---:|---:|---:|");
        foreach (var row in Rows(results)) sb.AppendLine("| " + string.Join(" | ", row) + " |");
        File.WriteAllText(path, sb.ToString());
    }

    /// <summary>One line per epoch of every run, so the curves can be re-plotted elsewhere.</summary>
    public static void WriteCsv(string path, IReadOnlyList<RunResult> results)
    {
        var sb = new StringBuilder("task,method_key,method,epoch,train_loss,test_metric,epoch_seconds,final_metric,seconds_per_epoch,peak_rss_growth_bytes,loss_ms,loss_peak_bytes\n");
        foreach (var r in results)
            foreach (var e in r.Curve)
                sb.AppendLine(string.Join(",", r.Task, r.Key, $"\"{r.Name}\"", e.Epoch.ToString(Inv), e.TrainLoss.ToString("G6", Inv),
                    e.TestMetric.ToString("G6", Inv), e.Seconds.ToString("F3", Inv), r.Metric.ToString("G6", Inv),
                    r.SecondsPerEpoch.ToString("F3", Inv), r.PeakBytes?.ToString(Inv) ?? "", r.LossMs?.ToString("F3", Inv) ?? "",
                    r.LossPeakBytes?.ToString(Inv) ?? ""));
        File.WriteAllText(path, sb.ToString());
    }
}
