using System.Globalization;
using System.Text;

namespace GpuKd.Cli;

/// <summary>A fixed-width console table: columns sized to their widest cell, printed at once.</summary>
internal sealed class Table(params string[] headers)
{
    readonly List<string[]> _rows = [];

    /// <summary>Which columns are right-aligned (numbers).</summary>
    public HashSet<int> RightAligned { get; } = [];

    public void Add(params string[] cells) => _rows.Add(cells);

    public void Print(TextWriter w)
    {
        var widths = new int[headers.Length];
        foreach (var row in _rows.Prepend(headers))
            for (int i = 0; i < widths.Length && i < row.Length; i++)
                widths[i] = Math.Max(widths[i], row[i].Length);

        w.WriteLine(Line(headers, widths));
        w.WriteLine(string.Join("  ", widths.Select(n => new string('-', n))));
        foreach (var row in _rows) w.WriteLine(Line(row, widths));
    }

    string Line(string[] cells, int[] widths)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < widths.Length; i++)
        {
            var c = i < cells.Length ? cells[i] : "";
            if (i > 0) sb.Append("  ");
            bool last = i == widths.Length - 1;
            sb.Append(RightAligned.Contains(i) ? c.PadLeft(widths[i]) : last ? c : c.PadRight(widths[i]));
        }
        return sb.ToString().TrimEnd();
    }
}

internal static class Fmt
{
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static string Shape(IEnumerable<long> shape) => "[" + string.Join(",", shape) + "]";

    public static string Err(double e) => double.IsNaN(e) ? "NaN" : e.ToString("0.0e+00", Inv);

    public static string Ms(double ms) => ms switch
    {
        < 1 => ms.ToString("0.000", Inv),
        < 10 => ms.ToString("0.00", Inv),
        < 100 => ms.ToString("0.0", Inv),
        _ => ms.ToString("0", Inv),
    };

    public static string Ratio(double r) => r >= 10 ? r.ToString("0", Inv) + "x" : r.ToString("0.0", Inv) + "x";

    public static string Bytes(double bytes) => bytes switch
    {
        < 1024 * 1024 => (bytes / 1024).ToString("0", Inv) + " KiB",
        < 1024 * 1024 * 1024 => (bytes / (1024 * 1024)).ToString("0.0", Inv) + " MiB",
        _ => (bytes / (1024.0 * 1024 * 1024)).ToString("0.00", Inv) + " GiB",
    };

    /// <summary>The root cause of an exception in one line: "Type: message".</summary>
    public static string Error(Exception e)
    {
        while (e is TypeInitializationException or System.Reflection.TargetInvocationException or AggregateException
               && e.InnerException is not null)
            e = e.InnerException;
        var msg = e.Message.ReplaceLineEndings(" ");
        return $"{e.GetType().Name}: {msg}";
    }

    public static string Clip(string s, int max) => s.Length <= max ? s : s[..(max - 3)] + "...";
}
