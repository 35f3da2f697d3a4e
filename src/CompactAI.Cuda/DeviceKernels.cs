using CompactAI.Cuda.Kernels;
using CompactAI.Models;
using ILGPU;
using ILGPU.Runtime;

namespace CompactAI.Cuda;

/// <summary>
/// The kernels of <c>Kernels/</c> compiled for one accelerator, with their launch shapes: warp-per-row kernels get one group of
/// <see cref="Accelerator.WarpSize"/> threads per row; element-wise ones are auto-grouped. Launches are asynchronous on the
/// accelerator's default stream; <see cref="Synchronize"/> waits for them.
/// </summary>
internal sealed class DeviceKernels
{
    private readonly Accelerator _accelerator;
    private readonly int _warp;
    private readonly Action<KernelConfig, ArrayView<byte>, ArrayView<float>, ArrayView<float>, int, int, long> _matVec;
    private readonly Action<KernelConfig, ArrayView<byte>, ArrayView<float>, ArrayView<float>, MatMulShape> _matMul;
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float> _rmsNorm;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int, int> _rope;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>> _siluGate, _geluGate, _add;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, int> _addRows;
    private readonly Action<Index1D, ArrayView<float>, float, float> _softcap;
    private readonly Action<KernelConfig, ArrayView<float>, int> _softmax;
    private readonly Action<Index1D, ArrayView<byte>, ArrayView<int>, ArrayView<float>, int, long, int, float> _embedding;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, int, int, int, int, int> _store;
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AttentionShape> _attend;

    public DeviceKernels(Accelerator accelerator)
    {
        _accelerator = accelerator;
        _warp = accelerator.WarpSize;
        _matVec = accelerator.LoadStreamKernel<ArrayView<byte>, ArrayView<float>, ArrayView<float>, int, int, long>(MatVecKernels.MatVec);
        _matMul = accelerator.LoadStreamKernel<ArrayView<byte>, ArrayView<float>, ArrayView<float>, MatMulShape>(MatMulKernels.MatMul);
        _rmsNorm = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float>(NormKernels.RmsNorm);
        _rope = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int, int>(RopeKernels.Rope);
        _siluGate = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>>(ActivationKernels.SiluGate);
        _geluGate = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>>(ActivationKernels.GeluGate);
        _add = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>>(ActivationKernels.Add);
        _addRows = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int>(ActivationKernels.AddRows);
        _softcap = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, float, float>(ActivationKernels.Softcap);
        _softmax = accelerator.LoadStreamKernel<ArrayView<float>, int>(SoftmaxKernels.Softmax);
        _embedding = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<byte>, ArrayView<int>, ArrayView<float>, int, long, int, float>(EmbeddingKernels.Lookup);
        _store = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int, int, int, int>(AttentionKernels.Store);
        _attend = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AttentionShape>(AttentionKernels.Attend);
    }

    /// <summary>y[0..w.Rows) = W·x for one token.</summary>
    public void MatVec(DeviceMatrix w, ArrayView<float> x, ArrayView<float> y) =>
        _matVec(new KernelConfig(w.Rows, _warp), w.View, x, y, (int)w.Type, w.Columns, w.RowBytes);

    /// <summary>
    /// Y = X·Wᵀ for <paramref name="tokens"/> rows ([tokens × w.Columns] → [tokens × w.Rows]): the matrix–vector kernel for one token,
    /// the tiled matrix–matrix kernel for more (X must then hold whole tiles of <see cref="MatMulKernels.Tile"/> rows).
    /// </summary>
    public void MatMul(DeviceMatrix w, ArrayView<float> x, ArrayView<float> y, int tokens)
    {
        if (tokens == 1)
        {
            MatVec(w, x, y);
            return;
        }
        int tiles = (tokens + MatMulKernels.Tile - 1) / MatMulKernels.Tile;
        _matMul(new KernelConfig(w.Rows * tiles, _warp), w.View, x, y, new MatMulShape((int)w.Type, w.Rows, w.Columns, w.RowBytes, tokens));
    }

    /// <summary>RMSNorm of <paramref name="rows"/> rows of <paramref name="n"/> elements, one gain shared by all rows.</summary>
    public void RmsNorm(ArrayView<float> x, ArrayView<float> gain, ArrayView<float> dst, int rows, int n, float epsilon) =>
        _rmsNorm(new KernelConfig(rows, _warp), x, gain, dst, n, epsilon);

    /// <summary>
    /// Rotates <paramref name="heads"/> heads of each of <paramref name="tokens"/> tokens at positions <paramref name="startPos"/>… by the
    /// context's cos/sin table ([position × ropeDims/2]).
    /// </summary>
    public void Rope(ArrayView<float> data, ArrayView<float> cos, ArrayView<float> sin, int tokens, int heads, int headDim, int ropeDims, int startPos, RopeStyle style) =>
        _rope(tokens * heads * (ropeDims / 2), data, cos, sin, heads, headDim, ropeDims / 2, startPos, style == RopeStyle.NeoX ? 1 : 0);

    /// <summary>gate = act(gate) ⊙ up over <paramref name="n"/> elements.</summary>
    public void GatedActivation(ArrayView<float> gate, ArrayView<float> up, int n, FfnActivation activation) =>
        (activation == FfnActivation.Silu ? _siluGate : _geluGate)(n, gate, up);

    /// <summary>x += y over <paramref name="n"/> elements.</summary>
    public void Add(ArrayView<float> x, ArrayView<float> y, int n) => _add(n, x, y);

    /// <summary>Adds <paramref name="bias"/> ([width]) to each of <paramref name="rows"/> rows of x.</summary>
    public void AddRows(ArrayView<float> x, ArrayView<float> bias, int rows, int width) => _addRows(rows * width, x, bias, width);

    /// <summary>x = cap·tanh(x/cap) over <paramref name="n"/> elements.</summary>
    public void Softcap(ArrayView<float> x, int n, float cap) => _softcap(n, x, cap, 1.0f / cap);

    /// <summary>In-place softmax of <paramref name="rows"/> rows of <paramref name="n"/> elements.</summary>
    public void Softmax(ArrayView<float> x, int rows, int n) => _softmax(new KernelConfig(rows, _warp), x, n);

    /// <summary>dst[b] = dequantize(E[tokens[b]]) · scale for the first <paramref name="count"/> tokens.</summary>
    public void Embedding(DeviceMatrix e, ArrayView<int> tokens, int count, ArrayView<float> dst, float scale) =>
        _embedding(count * e.Columns, e.View, tokens, dst, (int)e.Type, e.RowBytes, e.Columns, scale);

    /// <summary>
    /// Writes <paramref name="tokens"/> tokens' rows ([token][head][dim]) into a cache layer at positions <paramref name="startPos"/>…
    /// (rounded to half when <paramref name="half"/>).
    /// </summary>
    public void StoreKv(ArrayView<float> src, ArrayView<float> cache, int tokens, int heads, int dim, int capacity, int startPos, bool half) =>
        _store(tokens * heads * dim, src, cache, heads, dim, capacity, startPos, half ? 1 : 0);

    /// <summary>Causal attention of <paramref name="tokens"/> query positions (all heads) over a cache layer.</summary>
    public void Attend(ArrayView<float> q, ArrayView<float> keys, ArrayView<float> values, ArrayView<float> output, int tokens, AttentionShape shape) =>
        _attend(new KernelConfig(tokens * shape.Heads, _warp), q, keys, values, output, shape);

    /// <summary>Waits for every launch so far.</summary>
    public void Synchronize() => _accelerator.Synchronize();
}
