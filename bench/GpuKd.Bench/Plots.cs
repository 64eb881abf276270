using ScottPlot;
using SkiaSharp;

namespace GpuKd.Bench;

/// <summary>
/// Log–log PNG figures of a sweep (ScottPlot): time on the left, peak extra memory on the right,
/// GpuKd beside the reference. ScottPlot has no log axis, so the data are plotted as log10 values
/// with ticks labelled in the original units. A reference that was not run (its estimated need
/// exceeds the cap) appears in the memory panel as hollow markers on a dotted line.
/// </summary>
internal static class Plots
{
    const int Width = 1100, Height = 420;

    public static void Sweep(string path, Sweep.Def def, IReadOnlyList<Sweep.Row> rows)
    {
        var ours = rows.Where(r => r.Impl == "gpukd").ToList();
        var reference = rows.Where(r => r.Impl == "reference").ToList();

        var time = new Plot();
        Series(time, ours.Where(r => r.Ms > 0).Select(r => (r.X, r.Ms!.Value)), "GpuKd", Colors.C0, solid: true);
        Series(time, reference.Where(r => r.Ms > 0).Select(r => (r.X, r.Ms!.Value)), "reference", Colors.C1, solid: true);
        Style(time, $"{def.Case}: time, forward+backward ({def.FixedText})", def.Axis, "ms", rows.Select(r => r.X), rows.Where(r => r.Ms > 0).Select(r => r.Ms!.Value), Label);

        var memory = new Plot();
        const double MiB = 1 << 20;
        Series(memory, ours.Where(r => r.PeakBytes > 0).Select(r => (r.X, r.PeakBytes!.Value / MiB)), "GpuKd", Colors.C0, solid: true);
        Series(memory, reference.Where(r => r.PeakBytes > 0).Select(r => (r.X, r.PeakBytes!.Value / MiB)), "reference", Colors.C1, solid: true);
        var estimated = reference.Where(r => r.PeakBytes is null && r.EstimateBytes > 0).Select(r => (r.X, r.EstimateBytes!.Value / MiB)).ToList();
        if (estimated.Count > 0)
        {
            var lastMeasured = reference.LastOrDefault(r => r.PeakBytes > 0);
            var line = lastMeasured is null ? estimated : estimated.Prepend((lastMeasured.X, lastMeasured.PeakBytes!.Value / MiB)).ToList();
            Series(memory, line, "reference (not run: estimate)", Colors.C1, solid: false);
        }
        var memValues = rows.Select(r => r.PeakBytes ?? (r.Ms is null ? r.EstimateBytes : null)).Where(v => v > 0).Select(v => v!.Value / MiB);
        Style(memory, $"{def.Case}: peak extra memory ({def.FixedText})", def.Axis, "MiB", rows.Select(r => r.X), memValues, Label);

        var figure = new Multiplot();
        figure.Subplots.RemoveAt(0);
        figure.Subplots.Add(time);
        figure.Subplots.Add(memory);
        figure.Layout = new ScottPlot.MultiplotLayouts.Columns();
        Save(figure, path);
    }

    static void Series(Plot plot, IEnumerable<(long X, double Y)> points, string label, Color color, bool solid)
    {
        var p = points.ToArray();
        if (p.Length == 0) return;
        var s = plot.Add.Scatter(p.Select(q => Math.Log10(q.X)).ToArray(), p.Select(q => Math.Log10(q.Y)).ToArray());
        s.LegendText = label;
        s.Color = color;
        s.LineWidth = 2;
        s.MarkerSize = 7;
        s.MarkerShape = solid ? MarkerShape.FilledCircle : MarkerShape.OpenCircle;
        s.LinePattern = solid ? LinePattern.Solid : LinePattern.Dotted;
    }

    static void Style(Plot plot, string title, string axis, string unit, IEnumerable<long> xs, IEnumerable<double> ys, Func<double, string> format)
    {
        plot.Title(title, size: 14);
        plot.XLabel($"{axis} (log scale)");
        plot.YLabel($"{unit} (log scale)");
        var bs = xs.Distinct().Order().ToArray();
        plot.Axes.Bottom.SetTicks(bs.Select(b => Math.Log10(b)).ToArray(), bs.Select(b => b.ToString()).ToArray());
        var y = ys.ToArray();
        if (y.Length > 0)
        {
            int lo = (int)Math.Floor(Math.Log10(y.Min())), hi = (int)Math.Ceiling(Math.Log10(y.Max()));
            var decades = Enumerable.Range(lo, hi - lo + 1).Select(e => (double)e).ToArray();
            plot.Axes.Left.SetTicks(decades, decades.Select(e => format(Math.Pow(10, e))).ToArray());
            plot.Axes.SetLimitsY(lo - 0.05, hi + 0.05);
        }
        plot.ShowLegend(Alignment.UpperLeft);
    }

    static string Label(double v) => v >= 1 ? v.ToString("0") : v.ToString("0.###");

    static void Save(Multiplot figure, string path)
    {
        using var surface = SKSurface.Create(new SKImageInfo(Width, Height));
        surface.Canvas.Clear(SKColors.White);
        figure.Render(surface.Canvas, new PixelRect(0, Width, Height, 0));
        using var image = surface.Snapshot();
        using var png = image.Encode(SKEncodedImageFormat.Png, 100);
        File.WriteAllBytes(path, png.ToArray());
    }
}
