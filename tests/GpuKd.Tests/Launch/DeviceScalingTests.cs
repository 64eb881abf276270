using NUnit.Framework;
using static TorchSharp.torch;

namespace GpuKd.Tests.Launch;

/// <summary>On CUDA the scale-free ops bring huge (or, for IRG, tiny) inputs into range with a factor computed on
/// the device (no host read, no synchronisation). It must be the very factor the host rule gives.</summary>
public class DeviceScalingTests
{
    [TestCase(ScalarType.Float32, 1.0), TestCase(ScalarType.Float32, 3e20), TestCase(ScalarType.Float32, 1e35), TestCase(ScalarType.Float32, 1e-30)]
    [TestCase(ScalarType.Float64, 1.0), TestCase(ScalarType.Float64, 1e100), TestCase(ScalarType.Float64, 1e300), TestCase(ScalarType.Float64, 1e-290)]
    [TestCase(ScalarType.Float32, double.NaN), TestCase(ScalarType.Float64, double.PositiveInfinity), TestCase(ScalarType.Float64, 0.0)]
    public void DeviceFactorEqualsTheHostRule(ScalarType dtype, double magnitude)
    {
        using var scope = NewDisposeScope();
        var x = randn(7, 5, dtype: ScalarType.Float64);
        x = x / x.abs().max() * 0.75;
        if (double.IsFinite(magnitude)) x = x * magnitude;
        else x[3, 2] = tensor(magnitude, dtype: ScalarType.Float64);
        x = x.to(dtype);
        foreach (bool up in new[] { false, true })
        {
            double host = Scaling.Factor(x, up);
            double device = Scaling.DeviceFactor(x, up).to(ScalarType.Float64).item<double>();
            Assert.That(device, Is.EqualTo(host), $"{dtype} max {magnitude} up={up}");
        }
    }

    [TestCase(1e30, 1.0), TestCase(1.0, 1e30), TestCase(1.0, double.NaN), TestCase(1e-30, 1e-31)]
    public void TwoTensorFactorEqualsTheHostRule(double a, double b)
    {
        using var scope = NewDisposeScope();
        var x = randn(3, 4, dtype: ScalarType.Float32) * (double.IsFinite(a) ? a : 1);
        var y = randn(3, 2, dtype: ScalarType.Float32) * (double.IsFinite(b) ? b : 1);
        if (double.IsNaN(b)) y[1, 1] = tensor(float.NaN);
        foreach (bool up in new[] { false, true })
            Assert.That(Scaling.DeviceFactor([x, y], up).to(ScalarType.Float64).item<double>(), Is.EqualTo(Scaling.Factor([x, y], up)), $"{a} {b} up={up}");
    }
}
