using static TorchSharp.torch;

namespace GpuKd.Device;

/// <summary>
/// libtorch's switch for its oneDNN (mkldnn) CPU kernels, <c>at::globalContext().setUserEnabledMkldnn</c> — PyTorch's
/// <c>torch.backends.mkldnn.enabled</c>, which TorchSharp 0.107 does not expose. Found through <c>libtorch_cpu</c>'s C++
/// exports; where they are missing (another libtorch), reading gives true and setting throws. Why GpuKd carries it:
/// with the served libtorch-cpu 2.10.0 on an AVX-512 AMD EPYC, oneDNN's float32 conv2d input gradient is wrong for 3×3
/// stride-1 convolutions on small maps (relative error 0.3–0.96 at 8×8 and 5×5, a different wrong value per thread count,
/// sometimes NaN; forward and weight gradients are right, 32×32 maps are right; with oneDNN off every case is within
/// float32 round-off): the adversarial structured-KD discriminator's gradient penalty runs exactly there.
/// </summary>
internal static unsafe class LibtorchMkldnn
{
    static readonly Lazy<(nint Context, nint Get, nint Set, nint SetNnpack)> Exports = new(Resolve);

    static (nint, nint, nint, nint) Resolve()
    {
        nint context = LibtorchCpu.Export("_ZN2at13globalContextEv"), get = LibtorchCpu.Export("_ZNK2at7Context17userEnabledMkldnnEv"),
             set = LibtorchCpu.Export("_ZN2at7Context20setUserEnabledMkldnnEb");
        return context != 0 && get != 0 && set != 0 ? (context, get, set, LibtorchCpu.Export("_ZN2at7Context20setUserEnabledNNPACKEb")) : (0, 0, 0, 0);
    }

    /// <summary>libtorch's NNPACK switch off, where it exists (with oneDNN off, libtorch tries NNPACK for some
    /// convolutions and prints "Could not initialize NNPACK! Reason: Unsupported hardware" on CPUs it does not support,
    /// then takes its own kernels anyway). Used by the demo together with <see cref="Enabled"/> = false.</summary>
    public static void DisableNnpack()
    {
        var (context, _, _, nnpack) = Exports.Value;
        if (context == 0 || nnpack == 0) return;
        ((delegate* unmanaged<nint, byte, void>)nnpack)(((delegate* unmanaged<nint>)context)(), 0);
    }

    /// <summary>True when libtorch's switch was found.</summary>
    public static bool Available => Exports.Value.Context != 0;

    /// <summary>
    /// Whether libtorch's float32 conv2d input gradient is right here with its current oneDNN setting, at a shape where
    /// the defect shows (8 → 8 channels, 3×3, stride 1, 8×8 maps, batch 2): against the same gradient in float64, within
    /// 1e-4 relative (float32 round-off is ≈ 1e-7; the defect's error is 0.3–1 or NaN). Fixed inputs, ≈ 1 ms.
    /// </summary>
    public static bool ConvInputGradientIsRight()
    {
        using var scope = NewDisposeScope();
        using var _ = enable_grad();
        var x64 = arange(2 * 8 * 8 * 8, dtype: ScalarType.Float64).reshape(2, 8, 8, 8).mul(0.37).sin();
        var w64 = arange(8 * 8 * 3 * 3, dtype: ScalarType.Float64).reshape(8, 8, 3, 3).mul(0.71).cos();
        var up64 = arange(2 * 8 * 8 * 8, dtype: ScalarType.Float64).reshape(2, 8, 8, 8).mul(0.53).cos();
        Tensor Grad(ScalarType t)
        {
            var x = x64.to(t).requires_grad_(true);
            var y = nn.functional.conv2d(x, w64.to(t), padding: [1, 1]);
            return autograd.grad([y], [x], [up64.to(t)])[0].to(ScalarType.Float64);
        }
        var exact = Grad(ScalarType.Float64);
        double error = (Grad(ScalarType.Float32) - exact).norm().item<double>() / exact.norm().item<double>();
        return error < 1e-4;
    }

    /// <summary>Whether libtorch may use oneDNN for CPU ops (libtorch's default: true).</summary>
    public static bool Enabled
    {
        get
        {
            var (context, get, _, _) = Exports.Value;
            if (context == 0) return true;
            nint ctx = ((delegate* unmanaged<nint>)context)();
            return ((delegate* unmanaged<nint, byte>)get)(ctx) != 0;
        }
        set
        {
            var (context, _, set, _) = Exports.Value;
            if (context == 0) throw new PlatformNotSupportedException("This libtorch does not export at::Context::setUserEnabledMkldnn.");
            nint ctx = ((delegate* unmanaged<nint>)context)();
            ((delegate* unmanaged<nint, byte, void>)set)(ctx, (byte)(value ? 1 : 0));
        }
    }
}
