// The package check's consumer (.ci/package-check copies this into a fresh `dotnet new console`
// project that references the packed GpuKd from a local feed). First the README's quick start, line for line
// (ReadmeQuickStartTests keeps the two in step); then one loss and its gradient compared with the plain TorchSharp
// composition of the same loss, its Sum reduction, and the public surface. Prints lines the script checks.
using GpuKd; using TorchSharp; using static TorchSharp.torch;
var student = nn.Linear(128, 32); var opt = optim.Adam(student.parameters());
var rkd = gpukd.RKDLoss();                                  // 25·distance + 50·angle (Park et al.); reduction: Mean or Sum
var x = randn(64, 128); var teacherEmb = randn(64, 256);   // the teacher's embedding of the same batch
var loss = rkd.call(student.call(x), teacherEmb.detach());  // + your task loss
opt.zero_grad(); loss.backward(); opt.step();
Console.WriteLine($"quickstart rkd={loss.item<float>():R} finite={float.IsFinite(loss.item<float>())} reduction={rkd.reduction}");

var s = tensor(new double[] { 1, 2, 3, 5, -1, 0.5 }, [3, 2]).requires_grad_(true);
var teacher = tensor(new double[] { 0, 1, 2, 1, 1, 0, 2, -1, 1 }, [3, 3]);

var sp = gpukd.functional.sp_loss(s, teacher);
sp.backward();
var grad = s.grad!.clone();

// SP by hand (Tung & Mori): row-normalised batch Grams, Σ (G_T − G_S)² / b².
var s2 = s.detach().clone().requires_grad_(true);
Tensor Sp(Tensor v) => nn.functional.normalize(v.mm(v.t()), p: 2, dim: 1);
var reference = (Sp(teacher) - Sp(s2)).square().sum() / 9.0;
reference.backward();

double gradError = (grad - s2.grad!).abs().max().item<double>();
Console.WriteLine($"sp_loss={sp.item<double>():R} reference={reference.item<double>():R} grad_max_abs_diff={gradError:R}");

// Sum: the same b² = 9 terms summed (the SPLoss module, TorchSharp's Loss base, reduction: Sum).
using var spSum = gpukd.SPLoss(nn.Reduction.Sum);
double sum = spSum.call(s.detach(), teacher).item<double>();
Console.WriteLine($"sp_sum_over_9_terms_error={Math.Abs(sum - 9 * sp.item<double>()):R} module_is_torchsharp_loss={spSum is Loss<Tensor, Tensor, Tensor>}");

// The package's public surface: no test oracles (GpuKd.Reference), no pointer kernels (GpuKd.Kernels.Cpu).
var leaked = typeof(gpukd).Assembly.GetExportedTypes().Concat(typeof(GpuKd.Kernels.Launch.LaunchShape).Assembly.GetExportedTypes())
    .Where(t => t.Namespace is "GpuKd.Reference" or "GpuKd.Kernels.Cpu").Select(t => t.FullName).ToArray();
Console.WriteLine($"public_surface_leaks={leaked.Length} {string.Join(",", leaked)}");
