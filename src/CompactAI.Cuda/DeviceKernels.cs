using CompactAI.Cuda.Kernels;
using CompactAI.Models;
using ILGPU;
using ILGPU.Runtime;

namespace CompactAI.Cuda;

/// <summary>
/// The kernels of <c>Kernels/</c> compiled for one accelerator, with their launch shapes: warp-per-row kernels get one group of
/// <see cref="Accelerator.WarpSize"/> threads per row; element-wise ones are auto-grouped. Launches are asynchronous on the default stream.
/// </summary>
internal sealed class DeviceKernels
{
    private readonly Accelerator _accelerator;
    private readonly int _warp;
    private readonly Action<KernelConfig, ArrayView<byte>, ArrayView<float>, ArrayView<float>, int, int, long> _matVec;
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float> _rmsNorm;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int> _rope;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>> _siluGate, _geluGate, _add;
    private readonly Action<KernelConfig, ArrayView<float>, int> _softmax;
    private readonly Action<Index1D, ArrayView<byte>, ArrayView<float>, int, long, int, float> _embedding;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, int, int, int, int> _store;
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int, int, int, float, float, int> _attend;

    public DeviceKernels(Accelerator accelerator)
    {
        _accelerator = accelerator;
        _warp = accelerator.WarpSize;
        _matVec = accelerator.LoadStreamKernel<ArrayView<byte>, ArrayView<float>, ArrayView<float>, int, int, long>(MatVecKernels.MatVec);
        _rmsNorm = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float>(NormKernels.RmsNorm);
        _rope = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>(RopeKernels.Rope);
        _siluGate = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>>(ActivationKernels.SiluGate);
        _geluGate = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>>(ActivationKernels.GeluGate);
        _add = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>>(ActivationKernels.Add);
        _softmax = accelerator.LoadStreamKernel<ArrayView<float>, int>(SoftmaxKernels.Softmax);
        _embedding = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<byte>, ArrayView<float>, int, long, int, float>(EmbeddingKernels.Lookup);
        _store = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int, int, int>(AttentionKernels.Store);
        _attend = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int, int, int, float, float, int>(AttentionKernels.Attend);
    }

    /// <summary>y[0..w.Rows) = W·x.</summary>
    public void MatVec(DeviceMatrix w, ArrayView<float> x, ArrayView<float> y) =>
        _matVec(new KernelConfig(w.Rows, _warp), w.View, x, y, (int)w.Type, w.Columns, w.RowBytes);

    /// <summary>RMSNorm of <paramref name="rows"/> rows of <paramref name="n"/> elements, one gain shared by all rows.</summary>
    public void RmsNorm(ArrayView<float> x, ArrayView<float> gain, ArrayView<float> dst, int rows, int n, float epsilon) =>
        _rmsNorm(new KernelConfig(rows, _warp), x, gain, dst, n, epsilon);

    /// <summary>Rotates <paramref name="heads"/> heads of one token by the position's cos/sin rows (ropeDims/2 values each).</summary>
    public void Rope(ArrayView<float> data, ArrayView<float> cos, ArrayView<float> sin, int heads, int headDim, int ropeDims, RopeStyle style) =>
        _rope(heads * (ropeDims / 2), data, cos, sin, headDim, ropeDims / 2, style == RopeStyle.NeoX ? 1 : 0);

    /// <summary>gate = act(gate) ⊙ up over <paramref name="n"/> elements.</summary>
    public void GatedActivation(ArrayView<float> gate, ArrayView<float> up, int n, FfnActivation activation) =>
        (activation == FfnActivation.Silu ? _siluGate : _geluGate)(n, gate, up);

    /// <summary>x += y over <paramref name="n"/> elements.</summary>
    public void Add(ArrayView<float> x, ArrayView<float> y, int n) => _add(n, x, y);

    /// <summary>In-place softmax of <paramref name="rows"/> rows of <paramref name="n"/> elements.</summary>
    public void Softmax(ArrayView<float> x, int rows, int n) => _softmax(new KernelConfig(rows, _warp), x, n);

    /// <summary>dst = dequantize(E[token]) · scale.</summary>
    public void Embedding(DeviceMatrix e, int token, ArrayView<float> dst, float scale) =>
        _embedding(e.Columns, e.View, dst, (int)e.Type, e.RowBytes, token, scale);

    /// <summary>Writes one token's <paramref name="heads"/> rows of <paramref name="dim"/> values into a cache layer at <paramref name="pos"/> (rounded to half when <paramref name="half"/>).</summary>
    public void StoreKv(ArrayView<float> src, ArrayView<float> cache, int heads, int dim, int capacity, int pos, bool half) =>
        _store(heads * dim, src, cache, dim, capacity, pos, half ? 1 : 0);

    /// <summary>Attention of one query position (all heads) over cache positions [first, len); q rounded to half when <paramref name="half"/>.</summary>
    public void Attend(ArrayView<float> q, ArrayView<float> keys, ArrayView<float> values, ArrayView<float> output, int heads, int kvHeads,
        int headDim, int valueDim, int capacity, int first, int len, float scale, float softcap, bool half) =>
        _attend(new KernelConfig(heads, _warp), q, keys, values, output, heads / kvHeads, headDim, valueDim, capacity, first, len, scale, softcap, half ? 1 : 0);

    /// <summary>Waits for every launch so far.</summary>
    public void Synchronize() => _accelerator.Synchronize();
}
