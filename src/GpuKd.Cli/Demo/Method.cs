using static TorchSharp.torch;

namespace GpuKd.Cli.Demo;

/// <summary>Which data set and nets a method trains on.</summary>
internal enum DemoTask { Classification, Segmentation }

/// <summary>
/// One row of the demo's table: a way to train the student. <see cref="Start"/> makes a fresh
/// <see cref="MethodRun"/> for one training run (a method with trainable state, e.g. SKD's
/// discriminator, builds it there, after the student, from the seeded torch generator).
/// </summary>
/// <param name="Key">Name for <c>--losses</c> (lower case, no spaces).</param>
/// <param name="Name">Row label.</param>
/// <param name="Task">Data set and nets.</param>
/// <param name="Start">Makes the per-run state.</param>
internal sealed record Method(string Key, string Name, DemoTask Task, Func<MethodRun> Start);

/// <summary>
/// The per-run part of a method: the distillation term added to the task loss (cross-entropy),
/// from the student's outputs (with gradient), the teacher's (cached, no gradient) and the input
/// images; and an optional extra optimisation step after the student's (given detached outputs),
/// e.g. a discriminator update. Both run inside the step's dispose scope.
/// </summary>
internal sealed class MethodRun(Func<NetOutput, NetOutput, Tensor, Tensor?> loss,
    Action<NetOutput, NetOutput, Tensor>? afterStep = null, IDisposable? state = null) : IDisposable
{
    /// <summary>The extra loss term, or null for none (the student alone).</summary>
    public Tensor? Loss(NetOutput student, NetOutput teacher, Tensor images) => loss(student, teacher, images);

    /// <summary>An extra step after the student's optimiser step.</summary>
    public void AfterStep(NetOutput student, NetOutput teacher, Tensor images) => afterStep?.Invoke(student, teacher, images);

    public void Dispose() => state?.Dispose();
}
