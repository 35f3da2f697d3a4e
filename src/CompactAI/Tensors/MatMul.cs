using System.Runtime.InteropServices;
using CompactAI.Threading;

namespace CompactAI.Tensors;

/// <summary>
/// The matrix–vector / matrix–matrix driver: Y[b, r] = Σ_c W[r, c] · X[b, c].
/// It quantizes the activations once into the weight format's activation type, then splits weight rows across the
/// worker pool; each weight row is reused for every batch row while it is hot in cache. The per-format maths lives in
/// <see cref="TensorFormat.Dot"/>; formats backed by the native library (<see cref="TensorFormat.NativeTypeId"/> ≥ 0) run a
/// whole chunk of rows in one native call instead. Formats that interleave groups of rows (<see cref="TensorFormat.RowGroup"/>)
/// are split on group boundaries and computed only natively. One instance per session: it owns its activation scratch buffer.
/// </summary>
internal sealed unsafe class MatMul : IParallelJob
{
    private readonly WorkerPool _pool;
    private byte[] _activations = Array.Empty<byte>();
    private readonly QuantizeRows _quantize = new();

    // Per-dispatch state (set by Compute, read by Execute on the workers).
    private WeightMatrix _w;
    private byte* _act;
    private long _actRowBytes;
    private float* _y;
    private int _batch;

    public MatMul(WorkerPool pool) => _pool = pool;

    // What the activation buffer holds: the format, width and row count last quantized (for sameInput).
    private GgmlType _quantizedType = GgmlType.F32;
    private int _quantizedColumns, _quantizedBatch;
    private float* _quantizedSource;

    /// <summary>Y (batch × W.Rows) = X (batch × W.Columns) · Wᵀ.</summary>
    /// <param name="w">The weights.</param>
    /// <param name="x">The input rows.</param>
    /// <param name="batch">Rows of <paramref name="x"/>.</param>
    /// <param name="y">The output rows.</param>
    /// <param name="sameInput">
    /// The caller's promise that <paramref name="x"/> is unchanged since the previous call (q, k and v of one input; gate and
    /// up): its quantized rows are reused when that call quantized the same buffer to the same format and shape.
    /// </param>
    public void Compute(in WeightMatrix w, ReadOnlySpan<float> x, int batch, Span<float> y, bool sameInput = false)
    {
        if (x.Length < batch * w.Columns) throw new ArgumentException($"Input holds {x.Length} values, needs {batch}×{w.Columns}.", nameof(x));
        if (y.Length < batch * w.Rows) throw new ArgumentException($"Output holds {y.Length} values, needs {batch}×{w.Rows}.", nameof(y));
        var actFormat = w.Format.ActivationFormat;
        long actRowBytes = actFormat.RowBytes(w.Columns);
        fixed (float* px = x)
        fixed (float* py = y)
        {
            if (w.Format.ActivationType == GgmlType.F32)
            {
                Dispatch(w, (byte*)px, actRowBytes, py, batch);
                return;
            }
            long needed = actRowBytes * batch;
            bool reuse = sameInput && _quantizedSource == px && _quantizedType == w.Format.ActivationType
                         && _quantizedColumns == w.Columns && _quantizedBatch == batch;
            if (_activations.Length < needed)
            {
                _activations = GC.AllocateUninitializedArray<byte>((int)needed, pinned: true);
                reuse = false;
            }
            fixed (byte* pa = _activations)
            {
                if (!reuse)
                {
                    // A prompt's rows are quantized in parallel too: on one thread this was a tenth of prompt time.
                    _quantizedType = GgmlType.F32; // invalid until the rows are written
                    _quantize.Set(actFormat, px, w.Columns, pa, actRowBytes);
                    _pool.Run(_quantize, batch);
                    _quantize.Clear();
                    (_quantizedType, _quantizedColumns, _quantizedBatch) = (w.Format.ActivationType, w.Columns, batch);
                    _quantizedSource = px;
                }
                Dispatch(w, pa, actRowBytes, py, batch);
            }
        }
    }

    private void Dispatch(in WeightMatrix w, byte* act, long actRowBytes, float* y, int batch)
    {
        _w = w;
        _act = act;
        _actRowBytes = actRowBytes;
        _y = y;
        _batch = batch;
        // Rows are cheap for tiny models: keep at least ~16K multiply-adds per chunk so dispatch costs stay small.
        // Work is split in whole row groups (interleaved layouts); a group is one row otherwise.
        int group = w.Format.RowGroup;
        int minRows = Math.Max(1, 16384 / Math.Max(1, w.Columns * batch));
        _pool.Run(this, w.Rows / group, Math.Max(1, minRows / group));
        _act = null;
        _y = null;
    }

    public void Execute(int start, int end)
    {
        var w = _w;
        var format = w.Format;
        start *= format.RowGroup;
        end *= format.RowGroup;
        int n = w.Columns, rows = w.Rows;
        int nativeType = format.NativeTypeId;
        // Native-backed formats take the whole chunk in one call: one managed→native transition per chunk, not per row.
        if (nativeType >= 0 &&
            Native.NativeKernels.MatMulRows((GgmlType)nativeType, w.Data, w.RowBytes, n, start, end, _act, _actRowBytes, _batch, _y, rows))
        {
            return;
        }
        if (format.RowGroup != 1)
            throw new InvalidOperationException($"The native library refused a {format.RowGroup}-row interleaved {format.Type} matrix of {n} columns.");
        for (int r = start; r < end; r++)
        {
            var row = w.Row(r);
            for (int b = 0; b < _batch; b++)
            {
                var act = new ReadOnlySpan<byte>(_act + b * _actRowBytes, (int)_actRowBytes);
                _y[(long)b * rows + r] = format.Dot(row, act, n);
            }
        }
    }

    /// <summary>Quantizes activation rows [start, end) into the activation format.</summary>
    private sealed class QuantizeRows : IParallelJob
    {
        private TensorFormat? _format;
        private float* _x;
        private int _columns;
        private byte* _dst;
        private long _dstRowBytes;

        public void Set(TensorFormat format, float* x, int columns, byte* dst, long dstRowBytes)
        {
            _format = format;
            _x = x;
            _columns = columns;
            _dst = dst;
            _dstRowBytes = dstRowBytes;
        }

        public void Clear()
        {
            _format = null;
            _x = null;
            _dst = null;
        }

        public void Execute(int start, int end)
        {
            for (int b = start; b < end; b++)
                _format!.QuantizeActivations(new ReadOnlySpan<float>(_x + (long)b * _columns, _columns), new Span<byte>(_dst + b * _dstRowBytes, (int)_dstRowBytes));
        }
    }
}
