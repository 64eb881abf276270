using GpuKd.Device;
using GpuKd.Kernels.Cpu;
using NUnit.Framework;
using static TorchSharp.torch;

namespace GpuKd.Tests;

/// <summary>
/// The CPU kernels' parallel loops on libtorch's OpenMP team (<see cref="OpenMpTeam"/>): found with the served
/// libtorch (libgomp) — so the suite's parallel loops (<see cref="CpuParallel.Force"/>) run on it —, every index run
/// exactly once on any team size, and an exception in the body reaches the caller (it must not cross the native
/// frame, which would end the process) with the team usable afterwards.
/// </summary>
public sealed class OpenMpTeamTests
{
    [OneTimeSetUp]
    public void Register()
    {
        using var x = ones(1);   // libtorch loaded
        LibtorchOpenMp.Register();
    }

    [Test]
    public void Libtorchs_openmp_team_is_found_on_linux()
    {
        if (!OperatingSystem.IsLinux()) Assert.Ignore("the served libtorch-cpu with libgomp is the Linux package");
        Assert.That(OpenMpTeam.Available, Is.True, "GOMP_parallel through libtorch_cpu");
    }

    [TestCase(1, 1)]
    [TestCase(7, 2)]
    [TestCase(1000, 2)]
    [TestCase(1000, 0)]
    [TestCase(64, 5)]
    public void Every_index_runs_exactly_once(int count, int threads)
    {
        if (!OpenMpTeam.Available) Assert.Ignore("no OpenMP team in this libtorch");
        var hits = new int[count];
        OpenMpTeam.For(count, i => Interlocked.Increment(ref hits[i]), threads);
        Assert.That(hits, Is.All.EqualTo(1));
    }

    [Test]
    public void An_exception_in_the_body_reaches_the_caller_and_the_team_stays_usable()
    {
        if (!OpenMpTeam.Available) Assert.Ignore("no OpenMP team in this libtorch");
        var e = Assert.Throws<InvalidOperationException>(() => OpenMpTeam.For(100, i =>
        {
            if (i == 37) throw new InvalidOperationException("index 37");
        }, 2));
        Assert.That(e!.Message, Is.EqualTo("index 37"));
        int sum = 0;
        OpenMpTeam.For(10, i => Interlocked.Add(ref sum, i), 2);
        Assert.That(sum, Is.EqualTo(45));
    }

    [Test]
    public void Cpu_parallel_loops_take_the_team_and_stay_deterministic()
    {
        var hits = new int[513];
        using (CpuParallel.Force(2)) CpuParallel.For(hits.Length, 1, i => Interlocked.Increment(ref hits[i]));
        Assert.That(hits, Is.All.EqualTo(1));
    }
}
