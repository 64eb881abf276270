using Spectre.Console;

namespace GpuKd.Cli.Demo;

/// <summary>Progress of one training run: a call per optimiser step and per epoch, one at the end.</summary>
internal interface IRunProgress
{
    void Step();
    void Epoch(int epoch, int epochs, double loss, double metric, double seconds);
    void Done(double metric);
}

/// <summary>
/// Where runs report progress: live Spectre.Console bars (one per run, with its loss and test
/// metric) when stdout is an interactive terminal, plain lines (one per epoch) otherwise, so logs
/// and CI output stay readable.
/// </summary>
internal abstract class ProgressUi
{
    public abstract IRunProgress Start(string label, string metricName, int epochs, int stepsPerEpoch);

    /// <summary>Runs <paramref name="work"/> with the progress display suited to the output.</summary>
    public static T Show<T>(TextWriter plainOut, Func<ProgressUi, T> work)
    {
        bool live = !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive
                    && Environment.GetEnvironmentVariable("GPUKD_PLAIN") is null or "" or "0";
        if (!live) return work(new Plain(plainOut));
        return AnsiConsole.Progress()
            .AutoClear(false)
            .HideCompleted(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(),
                     new ElapsedTimeColumn(), new SpinnerColumn())
            .Start(ctx => work(new Live(ctx)));
    }

    static string Metric(string name, double v) => $"{name} {100 * v:F1}%";

    sealed class Plain(TextWriter w) : ProgressUi
    {
        public override IRunProgress Start(string label, string metricName, int epochs, int stepsPerEpoch)
        {
            w.WriteLine($"{label}: {epochs} epochs × {stepsPerEpoch} steps");
            return new Run(w, label, metricName);
        }

        sealed class Run(TextWriter w, string label, string metricName) : IRunProgress
        {
            public void Step() { }
            public void Epoch(int epoch, int epochs, double loss, double metric, double seconds) =>
                w.WriteLine($"  {label}  epoch {epoch}/{epochs}  loss {loss:F4}  {Metric(metricName, metric)}  {seconds:F1} s");
            public void Done(double metric) => w.Flush();
        }
    }

    sealed class Live(ProgressContext ctx) : ProgressUi
    {
        public override IRunProgress Start(string label, string metricName, int epochs, int stepsPerEpoch)
        {
            var task = ctx.AddTask(Markup.Escape(label), maxValue: epochs * stepsPerEpoch);
            return new Run(task, label, metricName);
        }

        sealed class Run(ProgressTask task, string label, string metricName) : IRunProgress
        {
            public void Step() => task.Increment(1);
            public void Epoch(int epoch, int epochs, double loss, double metric, double seconds) =>
                task.Description = Markup.Escape($"{label}  epoch {epoch}/{epochs}  loss {loss:F3}  {Metric(metricName, metric)}");
            public void Done(double metric)
            {
                task.Description = Markup.Escape($"{label}  {Metric(metricName, metric)}");
                task.Value = task.MaxValue;
                task.StopTask();
            }
        }
    }
}
