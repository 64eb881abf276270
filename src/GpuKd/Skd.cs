namespace GpuKd;

/// <summary>How <see cref="gpukd.functional.skd_pairwise_loss"/> reduces a feature map to nodes before the
/// pair-wise similarities (structured KD, Liu et al.).</summary>
public enum SkdPool
{
    /// <summary>Max pooling, kernel = stride = (⌊H·scale⌋, ⌊W·scale⌋), ceil mode (the authors' master branch).</summary>
    Max,

    /// <summary>Average pooling with the same windows (the paper's wording).</summary>
    Average,

    /// <summary>No pooling: every pixel is a node (full resolution; N = H·W).</summary>
    None,
}

/// <summary>The pixel-wise structured-KD loss of <see cref="gpukd.functional.skd_pixelwise_loss"/>.</summary>
public enum SkdPixelwise
{
    /// <summary>The authors' code: −Σ_{n,h,w,k} softmax(z_T/T)_k · log_softmax(z_S/T)_k / (H·W), i.e. soft-target
    /// cross-entropy summed over the batch and divided by H·W only (no T² factor; T = 1 is the authors').</summary>
    CrossEntropy,

    /// <summary>T² · KL(softmax(z_T/T) ‖ softmax(z_S/T)) averaged over the B·H·W pixels (Hinton-style).</summary>
    TemperatureKl,
}
