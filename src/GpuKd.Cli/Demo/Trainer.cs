using System.Diagnostics;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Cli.Demo;

/// <summary>One epoch of a run: mean training loss (task + distillation), test metric, training time.</summary>
internal sealed record EpochStat(int Epoch, double TrainLoss, double TestMetric, double Seconds);

/// <summary>The outcome of one training run (a table row).</summary>
/// <param name="LossMs">Median time of the distillation term alone, forward + backward, on one training batch (null: none).</param>
/// <param name="LossPeakBytes">Peak RSS growth during one such call.</param>
internal sealed record RunResult(DemoTask Task, string Key, string Name, double Metric, double SecondsPerEpoch,
    long? PeakBytes, IReadOnlyList<EpochStat> Curve, long[]? Predictions, double? LossMs = null, long? LossPeakBytes = null);

/// <summary>Training settings of one run.</summary>
internal sealed record TrainSettings(int Epochs, int BatchSize, double LearningRate, int Seed, int FigureImages);

/// <summary>
/// The teacher's outputs over the whole training set, computed once in eval mode without gradient:
/// there is no augmentation, so every student run reads the same targets by index instead of
/// re-running the teacher (each run's time is then the student's plus its loss's).
/// </summary>
internal sealed class TeacherCache : IDisposable
{
    readonly NetOutput _all;

    public TeacherCache(nn.Module<Tensor, NetOutput> teacher, Tensor images, int batch)
    {
        teacher.eval();
        var parts = new List<NetOutput>();
        using (no_grad())
            for (long i = 0; i < images.shape[0]; i += batch)
                using (NewDisposeScope())
                {
                    var o = teacher.call(images.narrow(0, i, Math.Min(batch, images.shape[0] - i)));
                    parts.Add(new NetOutput(o.Layers.Select(l => l.MoveToOuterDisposeScope()).ToArray(),
                        o.Embedding.MoveToOuterDisposeScope(), o.Logits.MoveToOuterDisposeScope()));
                }
        int layers = parts[0].Layers.Length;
        _all = new NetOutput(
            Enumerable.Range(0, layers).Select(l => cat(parts.Select(p => p.Layers[l]).ToArray(), 0)).ToArray(),
            cat(parts.Select(p => p.Embedding).ToArray(), 0),
            cat(parts.Select(p => p.Logits).ToArray(), 0));
        foreach (var p in parts) { foreach (var l in p.Layers) l.Dispose(); p.Embedding.Dispose(); p.Logits.Dispose(); }
    }

    /// <summary>The cached outputs of the samples at <paramref name="index"/> (new tensors in the current scope).</summary>
    public NetOutput Select(Tensor index)
    {
        // The seg teacher's embedding is its last layer: select it once.
        var layers = _all.Layers.Select(l => l.index_select(0, index)).ToArray();
        var embedding = ReferenceEquals(_all.Embedding, _all.Layers[^1]) ? layers[^1] : _all.Embedding.index_select(0, index);
        return new NetOutput(layers, embedding, _all.Logits.index_select(0, index));
    }

    public void Dispose()
    {
        foreach (var l in _all.Layers) l.Dispose();
        if (!_all.Layers.Any(l => ReferenceEquals(l, _all.Embedding))) _all.Embedding.Dispose();
        _all.Logits.Dispose();
    }
}

/// <summary>
/// The training loop shared by teachers and students: Adam, a fixed batch order per epoch from the
/// seed (the same for every method), task loss (cross-entropy; per pixel for segmentation) plus the
/// method's term, every step's tensors disposed at its end so memory stays flat. After each epoch
/// the test metric: accuracy, or mIoU (per-class IoU accumulated over the test set, mean over classes).
/// </summary>
internal static class Trainer
{
    /// <summary>Trains <paramref name="net"/> (made by the caller right after <c>torch.manual_seed(seed)</c>, so every
    /// student starts from the same weights) and returns its row; peak memory is the RSS growth during the call.</summary>
    public static RunResult Run(DemoTask task, string key, string name, nn.Module<Tensor, NetOutput> net,
        Dataset train, Dataset test, TeacherCache? teacher, Method? method, TrainSettings s, IRunProgress progress)
    {
        var peak = PeakRss.Start();
        using var run = method?.Start();
        var optimizer = optim.Adam(net.parameters(), lr: s.LearningRate);
        int n = train.Count, steps = (n + s.BatchSize - 1) / s.BatchSize;
        var curve = new List<EpochStat>();
        for (int epoch = 1; epoch <= s.Epochs; epoch++)
        {
            net.train();
            var order = Permutation(n, s.Seed * 7919 + epoch);
            double lossSum = 0;
            var sw = Stopwatch.StartNew();
            for (int step = 0; step < steps; step++)
            {
                using var scope = NewDisposeScope();
                int from = step * s.BatchSize, count = Math.Min(s.BatchSize, n - from);
                var index = tensor(order.AsSpan(from, count).ToArray());
                var x = train.Images.index_select(0, index);
                var y = train.Labels.index_select(0, index);
                var output = net.call(x);
                var loss = nn.functional.cross_entropy(output.Logits, y);
                NetOutput? target = teacher?.Select(index);
                if (run is not null && target is not null && run.Loss(output, target, x) is { } extra) loss = loss + extra;
                optimizer.zero_grad();
                loss.backward();
                optimizer.step();
                if (run is not null && target is not null) run.AfterStep(output.Detach(), target, x);
                lossSum += loss.item<float>();
                progress.Step();
            }
            double seconds = sw.Elapsed.TotalSeconds;
            double metric = Evaluate(task, net, test, s.BatchSize);
            curve.Add(new EpochStat(epoch, lossSum / steps, metric, seconds));
            progress.Epoch(epoch, s.Epochs, lossSum / steps, metric, seconds);
        }
        long? peakBytes = peak.PeakGrowth();
        long[]? predictions = task == DemoTask.Segmentation ? Predict(net, test, s.FigureImages) : null;
        var (lossMs, lossPeak) = run is not null && teacher is not null ? LossCost(run, net, train, teacher, s.BatchSize) : (null, null);
        var final = curve[^1];
        progress.Done(final.TestMetric);
        return new RunResult(task, key, name, final.TestMetric, curve.Average(e => e.Seconds), peakBytes, curve, predictions, lossMs, lossPeak);
    }

    /// <summary>
    /// The distillation term alone on the first training batch: forward + backward from the student's
    /// (detached, gradient-requiring) outputs, median of 7 calls after one warm-up, and the peak RSS growth
    /// of one call. This isolates what a loss costs, which the epoch time (mostly convolutions) dilutes.
    /// </summary>
    static (double?, long?) LossCost(MethodRun run, nn.Module<Tensor, NetOutput> net, Dataset train, TeacherCache teacher, int batch)
    {
        net.train();
        using var scope = NewDisposeScope();
        var index = arange(Math.Min(batch, train.Count), dtype: ScalarType.Int64);
        var x = train.Images.index_select(0, index);
        NetOutput student;
        using (no_grad()) student = net.call(x);
        var target = teacher.Select(index);
        NetOutput Leaf()
        {
            var layers = student.Layers.Select(l => l.detach().requires_grad_(true)).ToArray();
            var embedding = student.Layers.Contains(student.Embedding) ? layers[Array.IndexOf(student.Layers, student.Embedding)] : student.Embedding.detach().requires_grad_(true);
            return new NetOutput(layers, embedding, student.Logits.detach().requires_grad_(true));
        }
        double? Once()
        {
            using var step = NewDisposeScope();
            var sw = Stopwatch.StartNew();
            var loss = run.Loss(Leaf(), target, x);
            if (loss is null) return null;
            loss.backward();
            return sw.Elapsed.TotalMilliseconds;
        }
        if (Once() is null) return (null, null);
        var peak = PeakRss.Start();
        var times = new List<double> { Once()!.Value };
        long? peakBytes = peak.PeakGrowth();
        for (int i = 0; i < 6; i++) times.Add(Once()!.Value);
        times.Sort();
        return (times[times.Count / 2], peakBytes);
    }

    static long[] Permutation(int n, int seed)
    {
        var rng = new Random(seed);
        var order = new long[n];
        for (int i = 0; i < n; i++) order[i] = i;
        for (int i = n - 1; i > 0; i--) { int j = rng.Next(i + 1); (order[i], order[j]) = (order[j], order[i]); }
        return order;
    }

    /// <summary>Accuracy (classification) or mIoU (segmentation) on the test set, in [0, 1].</summary>
    public static double Evaluate(DemoTask task, nn.Module<Tensor, NetOutput> net, Dataset test, int batch)
    {
        net.eval();
        int k = test.Classes;
        var confusion = new long[k * k];   // [truth, predicted]
        using (no_grad())
            for (long i = 0; i < test.Count; i += batch)
                using (NewDisposeScope())
                {
                    long count = Math.Min(batch, test.Count - i);
                    var predicted = net.call(test.Images.narrow(0, i, count)).Logits.argmax(1);
                    var truth = test.Labels.narrow(0, i, count);
                    var pairs = (truth * k + predicted).flatten().bincount(null, k * k).data<long>().ToArray();
                    for (int j = 0; j < confusion.Length; j++) confusion[j] += pairs[j];
                }
        if (task == DemoTask.Classification)
            return Enumerable.Range(0, k).Sum(c => (double)confusion[c * k + c]) / confusion.Sum();
        double iouSum = 0;
        for (int c = 0; c < k; c++)
        {
            long tp = confusion[c * k + c];
            long truthC = Enumerable.Range(0, k).Sum(p => confusion[c * k + p]);
            long predC = Enumerable.Range(0, k).Sum(t => confusion[t * k + c]);
            long union = truthC + predC - tp;
            iouSum += union == 0 ? 1 : (double)tp / union;
        }
        return iouSum / k;
    }

    /// <summary>Per-pixel predicted classes of the first <paramref name="count"/> test images, flattened [count, H, W].</summary>
    public static long[] Predict(nn.Module<Tensor, NetOutput> net, Dataset test, int count)
    {
        net.eval();
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        return net.call(test.Images.narrow(0, 0, Math.Min(count, test.Count))).Logits.argmax(1).data<long>().ToArray();
    }
}
