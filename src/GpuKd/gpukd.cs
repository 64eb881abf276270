namespace GpuKd;

/// <summary>
/// GpuKd: fused relational knowledge-distillation ops for TorchSharp. The ops live in
/// <see cref="functional"/>; this class holds the process-wide settings.
/// </summary>
#pragma warning disable IDE1006, CS8981 // lower-case names follow TorchSharp's `torch.nn.functional` style
public static partial class gpukd
#pragma warning restore IDE1006, CS8981
{
    /// <summary>Environment variable that sets the default backend: <c>auto</c>, <c>cpu</c>, <c>ilgpu</c> or <c>ilgpu-cpu</c>.</summary>
    public const string BackendVariable = "GPUKD_BACKEND";

    /// <summary>Environment variable that turns the input check mode on when set to <c>1</c> or <c>true</c>.</summary>
    public const string CheckVariable = "GPUKD_CHECK";

    static volatile KdBackend _backend = ParseBackend(Environment.GetEnvironmentVariable(BackendVariable));
    static volatile bool _checkInputs = ParseFlag(Environment.GetEnvironmentVariable(CheckVariable));
    static readonly AsyncLocal<KdBackend?> _scopedBackend = new();

    /// <summary>
    /// The process-wide backend (default from <c>GPUKD_BACKEND</c>, else <see cref="KdBackend.Auto"/>).
    /// A <see cref="use_backend"/> scope on the current async flow takes precedence.
    /// </summary>
    public static KdBackend backend
    {
        get => _scopedBackend.Value ?? _backend;
        set => _backend = value;
    }

    /// <summary>
    /// Opt-in check mode (default from <c>GPUKD_CHECK</c>, else off): every op scans its
    /// inputs and throws an <see cref="ArgumentException"/> naming the argument that holds
    /// NaN or Inf. Off by default because the scan costs a pass over the input (and a
    /// device synchronisation on a GPU); NaN/Inf then propagate to a non-finite result.
    /// </summary>
    public static bool check_inputs
    {
        get => _checkInputs;
        set => _checkInputs = value;
    }

    /// <summary>
    /// libtorch's oneDNN (mkldnn) CPU kernels on or off, process-wide — PyTorch's <c>torch.backends.mkldnn.enabled</c>,
    /// which TorchSharp 0.107 lacks (default: libtorch's, on). GpuKd's own ops do not use oneDNN; this is for the model
    /// around them: with the libtorch-cpu 2.10.0 package on some CPUs oneDNN's float32 conv2d input gradient is wrong
    /// for 3×3 stride-1 convolutions on small maps (see the README, "Known problems"), and turning it off is the
    /// workaround. Throws <see cref="PlatformNotSupportedException"/> on a libtorch without the switch.
    /// </summary>
    public static bool mkldnn_enabled
    {
        get => Device.LibtorchMkldnn.Enabled;
        set => Device.LibtorchMkldnn.Enabled = value;
    }

    /// <summary>
    /// Forces <paramref name="b"/> for the current thread / async flow until the returned
    /// scope is disposed: <c>using (gpukd.use_backend(KdBackend.Ilgpu)) { ... }</c>.
    /// </summary>
    public static IDisposable use_backend(KdBackend b)
    {
        var previous = _scopedBackend.Value;
        _scopedBackend.Value = b;
        return new Scope(() => _scopedBackend.Value = previous);
    }

    sealed class Scope(Action onDispose) : IDisposable
    {
        int _disposed;
        public void Dispose() { if (Interlocked.Exchange(ref _disposed, 1) == 0) onDispose(); }
    }

    internal static KdBackend ParseBackend(string? s) => s?.Trim().ToLowerInvariant() switch
    {
        null or "" or "auto" => KdBackend.Auto,
        "cpu" => KdBackend.Cpu,
        "ilgpu" => KdBackend.Ilgpu,
        "ilgpu-cpu" => KdBackend.IlgpuCpu,
        _ => throw new ArgumentException($"{BackendVariable}='{s}' is not one of auto, cpu, ilgpu, ilgpu-cpu.", BackendVariable),
    };

    static bool ParseFlag(string? s) => s?.Trim().ToLowerInvariant() is "1" or "true" or "yes" or "on";
}
