using GpuKd.Device;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Ops;

/// <summary>Helpers shared by the autograd functions.</summary>
internal static class OpBase
{
    /// <summary>x flattened to [b, D], contiguous, on the CPU (CUDA tensors are staged:
    /// DESIGN §6, until the primary-context launch path exists).</summary>
    public static Tensor Rows(Tensor x) => x.reshape(x.shape[0], -1).cpu().contiguous();

    /// <summary>x flattened to [b, D], contiguous, where it is (the program path: no host copy).</summary>
    public static Tensor DeviceRows(Tensor x) => x.reshape(x.shape[0], -1).contiguous();

    /// <summary>Runs <paramref name="f32"/> or <paramref name="f64"/> for the element type of <paramref name="like"/>.</summary>
    public static TR ByType<TR>(Tensor like, Func<TR> f32, Func<TR> f64) => like.dtype == ScalarType.Float32 ? f32() : f64();

    /// <summary>Records what the backward needs to know about input x: whether it wants a
    /// gradient (TorchSharp has no needs_input_grad), its shape and its device.
    /// The backend chosen in the forward is recorded too: the backward may run on another
    /// thread, where a <see cref="gpukd.use_backend"/> scope does not reach.</summary>
    public static void SaveInput(autograd.AutogradContext ctx, Tensor x, IKdBackend? backend)
    {
        ctx.save_data("backend", (object?)backend ?? false);
        ctx.save_data("needs", x.requires_grad);
        ctx.save_data("shape", x.shape);
        ctx.save_data("device", x.device);
    }

    /// <summary>The backend the forward ran on.</summary>
    public static IKdBackend Backend(autograd.AutogradContext ctx) => ctx.get_data("backend") as IKdBackend ?? throw new InvalidOperationException("internal: the forward ran as a program");

    /// <summary>Records the program device the forward ran on (null: the CPU fast path).</summary>
    public static void SaveDevice(autograd.AutogradContext ctx, TorchDevice? dev) => ctx.save_data("programs", (object?)dev ?? false);

    /// <summary>The program device the forward ran on, or null for the CPU fast path.</summary>
    public static TorchDevice? ProgramDevice(autograd.AutogradContext ctx) => ctx.get_data("programs") as TorchDevice;

    /// <summary>True if the input recorded by <see cref="SaveInput"/> wants a gradient.</summary>
    public static bool Needs(autograd.AutogradContext ctx) => (bool)ctx.get_data("needs");

    /// <summary>The gradient for the input, shaped and placed like it.</summary>
    public static Tensor Like(autograd.AutogradContext ctx, Tensor grad)
        => grad.reshape((long[])ctx.get_data("shape")).to((torch.Device)ctx.get_data("device"));

    /// <summary>Centred rows Xc = X − mean and their Gram G = XcXcᵀ [b, b]: the start of every
    /// translation-invariant relation (distances, angles).</summary>
    public static (Tensor Centred, Tensor Gram) CentredGram(IKdBackend backend, Tensor x)
    {
        var centred = backend.Centre(Rows(x));
        var g = backend.Gram(centred.unsqueeze(0)).squeeze(0).contiguous();
        return (centred, g);
    }

    /// <summary>Σ of a contiguous CPU tensor's elements in a fixed order, accumulated in double:
    /// the deterministic final reduction of the fused losses.</summary>
    public static double OrderedSum(Tensor t)
    {
        if (t.dtype == ScalarType.Float32) return Sum(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(t.bytes));
        var v = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, double>(t.bytes);
        double s = 0;
        foreach (var e in v) s += e;
        return s;

        // Widened to double, Vector<float>.Count lanes at a time: a fixed order for a given machine.
        static double Sum(ReadOnlySpan<float> v)
        {
            var lanes = System.Runtime.InteropServices.MemoryMarshal.Cast<float, System.Numerics.Vector<float>>(v);
            var lo = System.Numerics.Vector<double>.Zero;
            var hi = System.Numerics.Vector<double>.Zero;
            foreach (var l in lanes)
            {
                System.Numerics.Vector.Widen(l, out var a, out var b);
                lo += a;
                hi += b;
            }
            double s = System.Numerics.Vector.Sum(lo + hi);
            for (int k = lanes.Length * System.Numerics.Vector<float>.Count; k < v.Length; k++) s += v[k];
            return s;
        }
    }

    /// <summary>Upstream gradient as a contiguous CPU tensor of the op's dtype.</summary>
    public static Tensor Upstream(Tensor grad, ScalarType dtype) => grad.to(dtype).cpu().contiguous();
}
