using NUnit.Framework;

namespace GpuKd.Tests;

/// <summary>
/// The README opens with a quick start for package users (install, one loss in a training step, at most 10 lines)
/// before the repository's own commands (<c>./gpukd</c>, <c>dotnet test GpuKd.sln</c>), and every C# line of it is a line
/// of <c>.ci/package-consumer/Program.cs</c>, which <c>.ci/package-check</c> builds and runs against the packed library:
/// the quick start cannot drift from code that runs.
/// </summary>
public class ReadmeQuickStartTests
{
    static string RepoRoot()
    {
        for (var d = new DirectoryInfo(TestContext.CurrentContext.TestDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "GpuKd.sln"))) return d.FullName;
        throw new InvalidOperationException("GpuKd.sln not found above the test directory.");
    }

    static List<string> Block(string[] lines, ref int i, string fence)
    {
        while (i < lines.Length && lines[i].Trim() != fence) i++;
        var block = new List<string>();
        for (i++; i < lines.Length && lines[i].Trim() != "```"; i++) block.Add(lines[i]);
        i++;
        return block;
    }

    [Test]
    public void The_readme_opens_with_a_quick_start_that_the_package_check_runs()
    {
        string root = RepoRoot();
        var readme = File.ReadAllLines(Path.Combine(root, "README.md"));
        var consumer = File.ReadAllLines(Path.Combine(root, ".ci", "package-consumer", "Program.cs")).Select(l => l.TrimEnd()).ToHashSet();
        int i = 0;
        var install = Block(readme, ref i, "```bash");
        var csharp = Block(readme, ref i, "```csharp");
        var commands = Block(readme, ref i, "```bash");
        Assert.Multiple(() =>
        {
            Assert.That(install.Any(l => l.StartsWith("dotnet add package GpuKd")), Is.True, "the first block installs the package");
            Assert.That(install.Count + csharp.Count, Is.LessThanOrEqualTo(10), "the quick start is at most 10 lines");
            Assert.That(csharp.Any(l => l.Contains("backward()") && l.Contains("step()")), Is.True, "one loss in a training step");
            foreach (var line in csharp)
                Assert.That(consumer, Does.Contain(line.TrimEnd()), $"README quick-start line run by .ci/package-consumer: {line}");
            Assert.That(commands.Any(l => l.StartsWith("./gpukd ") && l.Contains("main job")), Is.True, "then the main job: ./gpukd");
            Assert.That(commands.Any(l => l.StartsWith("dotnet test GpuKd.sln")), Is.True, "and the tests: dotnet test GpuKd.sln");
        });
    }
}
