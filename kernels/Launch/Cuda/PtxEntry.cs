using System.Text.RegularExpressions;

namespace GpuKd.Kernels.Launch.Cuda;

/// <summary>One parameter of a PTX <c>.entry</c>: its byte size and alignment.</summary>
public readonly record struct PtxParam(string Name, int Size, int Align);

/// <summary>
/// The entry point of a PTX module as the driver sees it: name and parameter list, read off the PTX text
/// that ILGPU emitted. The packer lays arguments out by this list (not by a second copy of ILGPU's layout
/// rules), and the tests check it against each kernel's .NET signature.
/// </summary>
public sealed partial record PtxEntry(string Name, IReadOnlyList<PtxParam> Params)
{
    [GeneratedRegex(@"\.entry\s+(\w+)\s*\(([^)]*)\)", RegexOptions.Singleline)]
    private static partial Regex EntryPattern();

    [GeneratedRegex(@"\.param\s+(?:\.align\s+(\d+)\s+)?\.([busf])(\d+)\s+(\w+)(?:\[(\d+)\])?")]
    private static partial Regex ParamPattern();

    /// <summary>Parses the single <c>.entry</c> of <paramref name="ptx"/>.</summary>
    public static PtxEntry Parse(string ptx)
    {
        var entries = EntryPattern().Matches(ptx);
        if (entries.Count != 1) throw new FormatException($"expected one .entry in the PTX, found {entries.Count}.");
        var list = new List<PtxParam>();
        foreach (var piece in entries[0].Groups[2].Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var m = ParamPattern().Match(piece);
            if (!m.Success) throw new FormatException($"unrecognised PTX parameter '{piece}'.");
            int bits = int.Parse(m.Groups[3].Value);
            int element = bits / 8, count = m.Groups[5].Success ? int.Parse(m.Groups[5].Value) : 1;
            int align = m.Groups[1].Success ? int.Parse(m.Groups[1].Value) : element;
            list.Add(new PtxParam(m.Groups[4].Value, element * count, align));
        }
        return new PtxEntry(entries[0].Groups[1].Value, list);
    }

    /// <summary>Bytes of the packed parameter buffer.</summary>
    public int BufferSize => Params.Aggregate(0, (offset, p) => Align(offset, p.Align) + p.Size);

    internal static int Align(int offset, int align) => (offset + align - 1) / align * align;
}
