using NUnit.Framework;
namespace GpuKd.Tests;
public class SmokeTests { [Test] public void TorchLoads() => Assert.That(TorchSharp.torch.ones(2).sum().item<float>(), Is.EqualTo(2f)); }
