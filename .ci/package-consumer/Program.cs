// The package check's consumer (.ci/package-check copies this into a fresh `dotnet new console`
// project that references the packed GpuKd from a local feed): one loss and its gradient, compared
// with the plain TorchSharp composition of the same loss. Prints one line the script checks.
using GpuKd;
using TorchSharp;
using static TorchSharp.torch;

var student = tensor(new double[] { 1, 2, 3, 5, -1, 0.5 }, [3, 2]).requires_grad_(true);
var teacher = tensor(new double[] { 0, 1, 2, 1, 1, 0, 2, -1, 1 }, [3, 3]);

var loss = gpukd.functional.sp_loss(student, teacher);
loss.backward();
var grad = student.grad!.clone();

// SP by hand (Tung & Mori): row-normalised batch Grams, Σ (G_T − G_S)² / b².
var s2 = student.detach().clone().requires_grad_(true);
Tensor Sp(Tensor x) => nn.functional.normalize(x.mm(x.t()), p: 2, dim: 1);
var reference = (Sp(teacher) - Sp(s2)).square().sum() / 9.0;
reference.backward();

double gradError = (grad - s2.grad!).abs().max().item<double>();
Console.WriteLine($"sp_loss={loss.item<double>():R} reference={reference.item<double>():R} grad_max_abs_diff={gradError:R}");
