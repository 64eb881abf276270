// MSBuild task (compiled by RoslynCodeTaskFactory, see Directory.Build.targets).
//
// Why: TorchSharp 0.107's libLibTorchSharp.so asks for GLIBCXX_3.4.32 (GCC 13), which
// Debian 12's libstdc++ lacks, so the loader refuses it. The only symbol of that version
// is std::ios_base_library_init, with no relocation against it, so marking the version
// requirement weak (VER_FLG_WEAK in its Elf64_Vernaux) lets the loader accept the file.
// We patch only the copy in our own build output, atomically, idempotently, and only
// when the system libstdc++ does not already provide the version (DESIGN §7).
using System;
using System.IO;
using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

public sealed class PatchLibTorchSharp : Task
{
    const string Needed = "GLIBCXX_3.4.32";
    const uint ShtGnuVerneed = 0x6ffffffe;
    const ushort VerFlgWeak = 0x2;

    /// <summary>Folders to search (recursively) for libLibTorchSharp.so.</summary>
    [Required] public ITaskItem[] Directories { get; set; } = Array.Empty<ITaskItem>();

    public override bool Execute()
    {
        if (!System.Runtime.InteropServices.RuntimeInformation.IsOSPlatform(System.Runtime.InteropServices.OSPlatform.Linux)) return true;
        if (SystemHasVersion())
        {
            Log.LogMessage(MessageImportance.Low, $"libstdc++ provides {Needed}; nothing to patch.");
            return true;
        }
        foreach (var dir in Directories)
        {
            var root = dir.ItemSpec;
            if (!Directory.Exists(root)) continue;
            foreach (var file in Directory.EnumerateFiles(root, "libLibTorchSharp.so", SearchOption.AllDirectories))
            {
                try
                {
                    var result = PatchFile(file);
                    Log.LogMessage(MessageImportance.Normal, $"{file}: {result}");
                }
                catch (Exception e)
                {
                    Log.LogError($"Could not patch {file}: {e.Message}");
                    return false;
                }
            }
        }
        return !Log.HasLoggedErrors;
    }

    static bool SystemHasVersion()
    {
        string[] candidates =
        {
            "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/lib/x86_64-linux-gnu/libstdc++.so.6",
            "/usr/lib64/libstdc++.so.6", "/lib64/libstdc++.so.6", "/usr/lib/libstdc++.so.6",
        };
        var needle = Encoding.ASCII.GetBytes(Needed + "\0");
        foreach (var path in candidates)
        {
            if (!File.Exists(path)) continue;
            var bytes = File.ReadAllBytes(path);
            return IndexOf(bytes, needle) >= 0;
        }
        return false; // unknown system: weakening a requirement is harmless
    }

    /// <summary>Sets VER_FLG_WEAK on the GLIBCXX_3.4.32 requirement. Returns what it did.</summary>
    static string PatchFile(string path)
    {
        var elf = File.ReadAllBytes(path);
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F')
            throw new InvalidDataException("not an ELF file");
        if (elf[4] != 2 || elf[5] != 1) throw new InvalidDataException("not a little-endian ELF64 file");

        ulong shoff = BitConverter.ToUInt64(elf, 0x28);
        int shentsize = BitConverter.ToUInt16(elf, 0x3A), shnum = BitConverter.ToUInt16(elf, 0x3C);
        for (int s = 0; s < shnum; s++)
        {
            int sh = checked((int)shoff + s * shentsize);
            if (BitConverter.ToUInt32(elf, sh + 4) != ShtGnuVerneed) continue;
            int secOff = checked((int)BitConverter.ToUInt64(elf, sh + 24));
            uint link = BitConverter.ToUInt32(elf, sh + 40), count = BitConverter.ToUInt32(elf, sh + 44);
            int strOff = checked((int)BitConverter.ToUInt64(elf, (int)shoff + (int)link * shentsize + 24));

            int vn = secOff;
            for (uint i = 0; i < count; i++)
            {
                int cnt = BitConverter.ToUInt16(elf, vn + 2);
                int aux = vn + (int)BitConverter.ToUInt32(elf, vn + 8);
                for (int k = 0; k < cnt; k++)
                {
                    int nameOff = strOff + (int)BitConverter.ToUInt32(elf, aux + 8);
                    if (CStringEquals(elf, nameOff, Needed))
                    {
                        ushort flags = BitConverter.ToUInt16(elf, aux + 4);
                        if ((flags & VerFlgWeak) != 0) return "already weak";
                        BitConverter.GetBytes((ushort)(flags | VerFlgWeak)).CopyTo(elf, aux + 4);
                        WriteAtomically(path, elf);
                        return $"marked {Needed} weak";
                    }
                    aux += (int)BitConverter.ToUInt32(elf, aux + 12);
                }
                uint next = BitConverter.ToUInt32(elf, vn + 12);
                if (next == 0) break;
                vn += (int)next;
            }
        }
        return $"no {Needed} requirement";
    }

    static int IndexOf(byte[] hay, byte[] needle)
    {
        for (int i = 0; i + needle.Length <= hay.Length; i++)
        {
            int k = 0;
            while (k < needle.Length && hay[i + k] == needle[k]) k++;
            if (k == needle.Length) return i;
        }
        return -1;
    }

    static bool CStringEquals(byte[] buf, int off, string s)
    {
        for (int i = 0; i < s.Length; i++) if (buf[off + i] != s[i]) return false;
        return buf[off + s.Length] == 0;
    }

    static void WriteAtomically(string path, byte[] bytes)
    {
        // Keep the original timestamp so that MSBuild's incremental copy still sees the
        // file as up to date and does not overwrite the patched copy on the next build.
        var stamp = File.GetLastWriteTimeUtc(path);
        var tmp = path + ".gpukd-tmp";
        File.WriteAllBytes(tmp, bytes);
        File.SetLastWriteTimeUtc(tmp, stamp);
        File.Replace(tmp, path, null); // rename(2): atomic on Linux
    }
}
