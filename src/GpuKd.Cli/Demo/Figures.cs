using ScottPlot;
using SkiaSharp;

namespace GpuKd.Cli.Demo;

/// <summary>The demo's pictures: training curves (ScottPlot) and the segmentation grid (SkiaSharp).</summary>
internal static class Figures
{
    /// <summary>Test metric per epoch of every run, one panel per task.</summary>
    public static void Curves(string path, IReadOnlyList<RunResult> results)
    {
        var tasks = results.Select(r => r.Task).Distinct().ToArray();
        var multiplot = new Multiplot();
        multiplot.AddPlots(tasks.Length);
        multiplot.Layout = new ScottPlot.MultiplotLayouts.Columns();
        for (int i = 0; i < tasks.Length; i++)
        {
            var plot = multiplot.GetPlot(i);
            var task = tasks[i];
            foreach (var r in results.Where(r => r.Task == task))
            {
                var line = plot.Add.Scatter(r.Curve.Select(e => (double)e.Epoch).ToArray(), r.Curve.Select(e => 100 * e.TestMetric).ToArray());
                line.LegendText = r.Name;
                line.LineWidth = r.Key == "teacher" ? 1 : 2;
                if (r.Key == "teacher") line.LinePattern = LinePattern.Dashed;
                if (r.Key == Methods.Alone) line.Color = Colors.Black;
            }
            plot.Title(task == DemoTask.Classification ? "glyphs: test accuracy" : "shapes: test mIoU");
            plot.XLabel("epoch");
            plot.YLabel(task == DemoTask.Classification ? "accuracy (%)" : "mIoU (%)");
            plot.ShowLegend(Alignment.LowerRight);
        }
        multiplot.SavePng(path, 640 * tasks.Length, 480);
    }

    /// <summary>Class colours of the segmentation figure (background, disk, square, triangle, …).</summary>
    static readonly SKColor[] Palette = [new(30, 30, 30), new(230, 80, 60), new(70, 150, 240), new(250, 200, 40), new(120, 220, 120), new(200, 120, 230)];

    /// <summary>
    /// Rows = test images; columns = the input, the ground truth, then the predictions of each given
    /// run (teacher, student alone, each distilled student).
    /// </summary>
    public static void Segmentation(string path, Dataset test, IReadOnlyList<(string Title, long[] Predictions)> columns, int images)
    {
        const int scale = 4, pad = 8, header = 28;
        int size = (int)test.Images.shape[2], cell = size * scale;
        int cols = 2 + columns.Count;
        images = Math.Min(images, test.Count);
        int width = pad + cols * (cell + pad), height = header + pad + images * (cell + pad);
        using var bitmap = new SKBitmap(width, height);
        using var canvas = new SKCanvas(bitmap);
        canvas.Clear(SKColors.White);
        using var font = new SKFont(SKTypeface.Default, 13);
        using var ink = new SKPaint { Color = SKColors.Black, IsAntialias = true };
        var titles = new[] { "input", "ground truth" }.Concat(columns.Select(c => c.Title)).ToArray();
        for (int c = 0; c < cols; c++)
            canvas.DrawText(Fit(titles[c], font, cell + pad - 2), pad + c * (cell + pad), header - 10, SKTextAlign.Left, font, ink);

        float[] rgb = test.Images.narrow(0, 0, images).data<float>().ToArray();
        long[] truth = test.Labels.narrow(0, 0, images).data<long>().ToArray();
        int hw = size * size;
        using var fill = new SKPaint();
        for (int n = 0; n < images; n++)
        {
            int top = header + pad + n * (cell + pad);
            for (int y = 0; y < size; y++)
            for (int x = 0; x < size; x++)
            {
                int p = y * size + x;
                byte Channel(int ch) => (byte)Math.Clamp(255 * rgb[n * 3 * hw + ch * hw + p], 0, 255);
                void Pixel(int col, SKColor color)
                {
                    fill.Color = color;
                    canvas.DrawRect(pad + col * (cell + pad) + x * scale, top + y * scale, scale, scale, fill);
                }
                Pixel(0, new SKColor(Channel(0), Channel(1), Channel(2)));
                Pixel(1, Palette[truth[n * hw + p] % Palette.Length]);
                for (int c = 0; c < columns.Count; c++) Pixel(2 + c, Palette[columns[c].Predictions[n * hw + p] % Palette.Length]);
            }
        }
        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        using var file = File.Create(path);
        data.SaveTo(file);
    }

    static string Fit(string text, SKFont font, float width)
    {
        while (text.Length > 3 && font.MeasureText(text) > width) text = text[..^2] + "…";
        return text;
    }
}
