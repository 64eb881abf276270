using System.Reflection;
using System.Text.RegularExpressions;
using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Tests;

/// <summary>
/// The public API's one shape, checked by reflection so that a new loss (PKTLoss, NSTLoss, FSPLoss, ICKDLoss, DISTLoss,
/// …) is held to it without editing this file: every public loss module derives from TorchSharp's <c>Loss&lt;…&gt;</c>
/// (so it exposes <c>reduction</c>), is named <c>…Loss</c> with its acronym upper case (PyTorch's <c>NLLLoss</c>,
/// <c>KLDivLoss</c>), is made by a <c>gpukd</c> factory of the same name whose last parameter is
/// <c>nn.Reduction reduction = Mean</c>, which the module then reports; every functional <c>*_loss</c> takes the same
/// last parameter. And the packages' public surface is the API: nothing of the reference compositions (the test
/// oracles), the ops, the device layer or the raw CPU kernels, and no pointer in any public signature.
/// </summary>
public class LossApiTests
{
    static readonly Assembly GpuKdAssembly = typeof(gpukd).Assembly;
    static readonly Assembly KernelsAssembly = typeof(GpuKd.Kernels.Launch.LaunchShape).Assembly;

    /// <summary>The acronyms of the methods (present and planned): wherever one appears as a word of a public loss name,
    /// it must be upper case.</summary>
    static readonly string[] Acronyms = ["KD", "RKD", "SKD", "SP", "CC", "IRG", "PKT", "NST", "FSP", "ICKD", "DIST", "KL", "MSE"];

    static bool IsTorchSharpLoss(Type t)
    {
        for (var b = t.BaseType; b is not null; b = b.BaseType)
            if (b.IsGenericType && b.Namespace == "TorchSharp" && b.Name.StartsWith("Loss`", StringComparison.Ordinal)) return true;
        return false;
    }

    static bool IsModule(Type t) => typeof(nn.Module).IsAssignableFrom(t);

    static Type[] LossModules => GpuKdAssembly.GetExportedTypes().Where(t => IsModule(t) && (t.Name.EndsWith("Loss") || IsTorchSharpLoss(t))).ToArray();

    static MethodInfo[] Factories => typeof(gpukd).GetMethods(BindingFlags.Public | BindingFlags.Static)
        .Where(m => IsModule(m.ReturnType) && IsTorchSharpLoss(m.ReturnType)).ToArray();

    static MethodInfo[] FunctionalLosses => typeof(gpukd.functional).GetMethods(BindingFlags.Public | BindingFlags.Static)
        .Where(m => m.Name.EndsWith("_loss", StringComparison.Ordinal)).ToArray();

    /// <summary>The violations of the acronym rule in a name: each acronym, found case-insensitively as a word (followed by
    /// an upper-case letter or the end), must be written upper case.</summary>
    internal static IEnumerable<string> AcronymViolations(string name)
    {
        foreach (var a in Acronyms)
            foreach (Match m in Regex.Matches(name, $"(?i:{a})(?=[A-Z]|$)"))
            {
                bool wordStart = m.Index == 0 || char.IsLower(name[m.Index - 1]) || char.IsUpper(name[m.Index]) && name[m.Index..].StartsWith(a);
                if (wordStart && m.Value != a && m.Value.Equals(a, StringComparison.OrdinalIgnoreCase) && char.IsUpper(m.Value[0]))
                    yield return $"{m.Value} (write {a})";
            }
    }

    [Test]
    public void The_naming_rule_itself_flags_mixed_case_acronyms()
    {
        Assert.That(AcronymViolations("RkdLoss"), Is.Not.Empty);
        Assert.That(AcronymViolations("StructuredKdLoss"), Is.Not.Empty);
        Assert.That(AcronymViolations("SpLoss"), Is.Not.Empty);
        Assert.That(AcronymViolations("IrgLoss"), Is.Not.Empty);
        Assert.That(AcronymViolations("PktLoss"), Is.Not.Empty);
        Assert.That(AcronymViolations("RKDLoss"), Is.Empty);
        Assert.That(AcronymViolations("StructuredKDLoss"), Is.Empty);
        Assert.That(AcronymViolations("ICKDLoss"), Is.Empty);
        Assert.That(AcronymViolations("DISTLoss"), Is.Empty);
        Assert.That(AcronymViolations("DistanceLoss"), Is.Empty, "a word that starts like an acronym is not one");
    }

    [Test]
    public void Every_public_loss_module_derives_from_TorchSharp_Loss_and_follows_the_naming_rule()
    {
        Assert.That(LossModules.Select(t => t.Name), Is.SupersetOf(new[] { "RKDLoss", "SPLoss", "CCLoss", "IRGLoss", "StructuredKDLoss" }));
        Assert.Multiple(() =>
        {
            foreach (var t in LossModules)
            {
                Assert.That(IsTorchSharpLoss(t), Is.True, $"{t.FullName} derives from TorchSharp.Loss<…> (exposes reduction)");
                Assert.That(t.Name, Does.EndWith("Loss"), $"{t.FullName}: a loss module is named …Loss");
                Assert.That(t.Namespace, Is.EqualTo("GpuKd.Modules"), $"{t.FullName}: loss modules live in GpuKd.Modules");
                Assert.That(AcronymViolations(t.Name), Is.Empty, $"{t.FullName}: acronyms upper case, as in NLLLoss, KLDivLoss");
                Assert.That(t.GetConstructors(BindingFlags.Public | BindingFlags.Instance), Is.Empty, $"{t.FullName}: made by its gpukd factory");
                var reduction = t.GetProperty("reduction");
                Assert.That(reduction?.PropertyType, Is.EqualTo(typeof(nn.Reduction)), $"{t.FullName}.reduction");
            }
        });
    }

    [Test]
    public void Every_loss_module_has_one_factory_of_its_name_taking_reduction_last()
    {
        Assert.Multiple(() =>
        {
            foreach (var t in LossModules)
            {
                var factories = Factories.Where(m => m.ReturnType == t).ToArray();
                Assert.That(factories.Select(m => m.Name), Is.EqualTo(new[] { t.Name }), $"{t.Name}: exactly one factory, gpukd.{t.Name} (no aliases)");
            }
            foreach (var m in Factories)
            {
                Assert.That(m.Name, Is.EqualTo(m.ReturnType.Name), $"gpukd.{m.Name} returns a {m.ReturnType.Name}");
                var last = m.GetParameters().LastOrDefault();
                Assert.That(last?.Name, Is.EqualTo("reduction"), $"gpukd.{m.Name}: last parameter");
                Assert.That(last?.ParameterType, Is.EqualTo(typeof(nn.Reduction)), $"gpukd.{m.Name}: reduction type");
                Assert.That(last?.HasDefaultValue == true && (nn.Reduction)last.DefaultValue! == nn.Reduction.Mean, Is.True, $"gpukd.{m.Name}: reduction = Mean");
            }
        });
    }

    [Test]
    public void Every_factory_passes_reduction_to_the_module_or_refuses_None_naming_it()
    {
        Assert.Multiple(() =>
        {
            foreach (var m in Factories)
            {
                foreach (var r in new[] { nn.Reduction.Mean, nn.Reduction.Sum, nn.Reduction.None })
                {
                    var args = m.GetParameters().Select(p => p.Name == "reduction" ? r : p.HasDefaultValue ? p.DefaultValue : Type.Missing).ToArray();
                    object? module = null;
                    try
                    {
                        module = m.Invoke(null, args);
                    }
                    catch (TargetInvocationException e) when (r == nn.Reduction.None && e.InnerException is ArgumentException a)
                    {
                        Assert.That(a.ParamName, Is.EqualTo("reduction"), $"gpukd.{m.Name}(reduction: None) names reduction");
                        Assert.That(a.Message, Does.Contain("None").And.Contain(m.Name), $"gpukd.{m.Name}(reduction: None) says why");
                        continue;
                    }
                    Assert.That(module!.GetType().GetProperty("reduction")!.GetValue(module), Is.EqualTo(r), $"gpukd.{m.Name}(reduction: {r}).reduction");
                    ((IDisposable)module).Dispose();
                }
            }
        });
    }

    [Test]
    public void Every_functional_loss_takes_reduction_last_defaulting_to_Mean()
    {
        Assert.That(FunctionalLosses.Select(m => m.Name).Distinct(), Is.SupersetOf(new[]
        {
            "rkd_distance_loss", "rkd_angle_loss", "sp_loss", "cc_loss", "irg_edge_loss", "irg_vertex_loss", "irg_transformation_loss",
            "irg_loss", "skd_pairwise_loss", "skd_pixelwise_loss", "skd_holistic_generator_loss", "skd_holistic_discriminator_loss",
        }));
        Assert.Multiple(() =>
        {
            foreach (var m in FunctionalLosses)
            {
                Assert.That(m.Name, Does.Match("^[a-z][a-z0-9_]*$"), $"{m.Name}: snake_case, as torch.nn.functional");
                var last = m.GetParameters().LastOrDefault();
                Assert.That(last?.Name, Is.EqualTo("reduction"), $"functional.{m.Name}: last parameter");
                Assert.That(last?.ParameterType, Is.EqualTo(typeof(nn.Reduction)), $"functional.{m.Name}: reduction type");
                Assert.That(last?.HasDefaultValue == true && (nn.Reduction)last.DefaultValue! == nn.Reduction.Mean, Is.True, $"functional.{m.Name}: reduction = Mean");
            }
        });
    }

    /// <summary>Whether a type is, or is built from, an unmanaged pointer or function pointer.</summary>
    static bool HasPointer(Type? t)
    {
        if (t is null) return false;
        if (t.IsPointer || t.IsFunctionPointer || t.IsUnmanagedFunctionPointer) return true;
        if (t.HasElementType) return HasPointer(t.GetElementType());
        return t.IsGenericType && t.GetGenericArguments().Any(HasPointer);
    }

    static IEnumerable<string> PointerSignatures(Type t)
    {
        const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        foreach (var m in t.GetMembers(all))
        {
            bool visible = m switch
            {
                MethodBase mb => mb.IsPublic || mb.IsFamily || mb.IsFamilyOrAssembly,
                FieldInfo f => f.IsPublic || f.IsFamily || f.IsFamilyOrAssembly,
                PropertyInfo p => p.GetAccessors(true).Any(a => a.IsPublic || a.IsFamily || a.IsFamilyOrAssembly),
                _ => false,
            };
            if (!visible) continue;
            bool pointer = m switch
            {
                MethodInfo mi => HasPointer(mi.ReturnType) || mi.GetParameters().Any(p => HasPointer(p.ParameterType)),
                ConstructorInfo ci => ci.GetParameters().Any(p => HasPointer(p.ParameterType)),
                FieldInfo f => HasPointer(f.FieldType),
                PropertyInfo p => HasPointer(p.PropertyType),
                _ => false,
            };
            if (pointer) yield return $"{t.FullName}.{m.Name}";
        }
    }

    [Test]
    public void GpuKd_exposes_no_reference_op_device_or_pointer_types()
    {
        var exported = GpuKdAssembly.GetExportedTypes();
        Assert.That(exported.Select(t => t.FullName), Does.Contain("GpuKd.gpukd"), "the reflection sees the public surface");
        Assert.Multiple(() =>
        {
            foreach (var ns in new[] { "GpuKd.Reference", "GpuKd.Ops", "GpuKd.Device" })
                Assert.That(exported.Where(t => t.Namespace is { } n && (n == ns || n.StartsWith(ns + "."))).Select(t => t.FullName), Is.Empty,
                    $"{ns} is internal (the test oracles and the implementation are not the API)");
            Assert.That(exported.SelectMany(PointerSignatures), Is.Empty, "no public signature of GpuKd takes or returns a pointer");
        });
        // The oracles exist and are reachable from the tests (InternalsVisibleTo), so the check above is not vacuous.
        Assert.That(typeof(GpuKd.Reference.ReferenceOps).IsPublic, Is.False);
        Assert.That(GpuKdAssembly.GetTypes().SelectMany(PointerSignatures), Is.Not.Empty, "GpuKd has pointer methods internally (the check can see them)");
    }

    [Test]
    public void GpuKd_Kernels_exposes_the_launch_layer_but_not_the_raw_cpu_kernels()
    {
        var exported = KernelsAssembly.GetExportedTypes();
        Assert.Multiple(() =>
        {
            Assert.That(exported.Where(t => t.Namespace == "GpuKd.Kernels.Cpu").Select(t => t.FullName), Is.Empty,
                "the SIMD pointer kernels are GpuKd's implementation, internal");
            Assert.That(exported.SelectMany(PointerSignatures), Is.Empty, "no public signature of GpuKd.Kernels takes or returns a pointer");
            foreach (var ns in new[] { "GpuKd.Kernels.Launch", "GpuKd.Kernels.Programs", "GpuKd.Kernels.Ilgpu" })
                Assert.That(exported.Any(t => t.Namespace == ns), Is.True, $"{ns} stays public (the GPU harness drives it without TorchSharp)");
        });
        Assert.That(KernelsAssembly.GetTypes().Where(t => t.Namespace == "GpuKd.Kernels.Cpu").SelectMany(PointerSignatures), Is.Not.Empty,
            "the CPU kernels do have pointer signatures (the check can see them)");
    }
}
