namespace CompactAI.Tensors;

/// <summary>
/// The maths of one tensor element/block format: how a row of weights dequantizes, how floats quantize into it,
/// and the dot product of a weight row with an activation row prepared in <see cref="ActivationType"/>.
/// One sealed subclass per format (<c>Formats/*.cs</c>); the matmul driver owns threading, batching and dispatch.
/// </summary>
/// <remarks>Implementations are stateless and thread-safe. Inner loops assume lengths were validated by the caller.</remarks>
internal abstract class TensorFormat
{
    protected TensorFormat(GgmlType type)
    {
        Type = type;
        BlockSize = GgmlTypeInfo.BlockSize(type);
        BlockBytes = GgmlTypeInfo.BlockBytes(type);
    }

    /// <summary>The format.</summary>
    public GgmlType Type { get; }

    /// <summary>Elements per block.</summary>
    public int BlockSize { get; }

    /// <summary>Bytes per block.</summary>
    public int BlockBytes { get; }

    /// <summary>
    /// The format activations are converted to before <see cref="Dot"/>: <see cref="GgmlType.F32"/> for float formats; for
    /// quantized ones, as llama.cpp pairs them, <see cref="GgmlType.Q8_0"/> (Q4_0, Q5_0, Q8_0), <see cref="GgmlType.Q8_1"/>
    /// (Q4_1, Q5_1, whose offset term uses the block sums) or <see cref="GgmlType.Q8_K"/> (K-quants), so Dot runs integer products.
    /// </summary>
    public virtual GgmlType ActivationType => GgmlType.F32;

    /// <summary>Whether <see cref="Quantize"/> is implemented.</summary>
    public virtual bool CanQuantize => false;

    /// <summary>Bytes taken by <paramref name="elements"/> elements (a whole number of blocks).</summary>
    public long RowBytes(long elements) => elements / BlockSize * BlockBytes;

    /// <summary>Expands <c>dst.Length</c> elements from <paramref name="src"/>.</summary>
    public abstract void Dequantize(ReadOnlySpan<byte> src, Span<float> dst);

    /// <summary>Encodes <paramref name="src"/> (a whole number of blocks) into <paramref name="dst"/>, as llama.cpp's reference quantizer does.</summary>
    public virtual void Quantize(ReadOnlySpan<float> src, Span<byte> dst) =>
        throw new NotSupportedException($"Quantizing to {Type} is not supported.");

    /// <summary>
    /// Encodes a row of activations (a whole number of blocks) as a matrix product's input, as llama.cpp's CPU backend
    /// does before its integer dot products; for most formats that is <see cref="Quantize"/>, but Q8_0 and Q8_1 round as
    /// llama.cpp's x86 kernels do, which is not its reference quantizer (see <c>LegacyBlocks.QuantizeQ8Activations</c>).
    /// </summary>
    internal virtual void QuantizeActivations(ReadOnlySpan<float> src, Span<byte> dst) => Quantize(src, dst);

    /// <summary>
    /// Σ w[i]·a[i] over <paramref name="n"/> elements, where <paramref name="weights"/> is a row in this format and
    /// <paramref name="activations"/> the same-length row in <see cref="ActivationType"/>.
    /// </summary>
    public abstract float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n);

    /// <summary>
    /// The weight type id the native library's <c>cai_matmul_rows</c> computes this format with, or −1 when the format has no
    /// native matrix kernel (the matmul driver then calls <see cref="Dot"/> per row).
    /// </summary>
    internal virtual int NativeTypeId => -1;

    /// <summary>
    /// Rows stored together: 1 for GGUF's row-major layout; more for a layout that interleaves groups of rows (the matmul
    /// driver then splits work on group boundaries, and <see cref="WeightMatrix.Row"/> is unavailable).
    /// </summary>
    internal virtual int RowGroup => 1;

    /// <summary>
    /// Copies row <paramref name="row"/> (in this format's own layout at <paramref name="data"/>, <paramref name="rowBytes"/>
    /// bytes per row) into <paramref name="dst"/> in the row-major GGUF layout of <see cref="Type"/>.
    /// </summary>
    internal virtual unsafe void CopyRow(byte* data, long rowBytes, int row, Span<byte> dst) =>
        new ReadOnlySpan<byte>(data + row * rowBytes, (int)rowBytes).CopyTo(dst);

    private TensorFormat? _activationFormat;

    /// <summary>
    /// The implementation of <see cref="ActivationType"/> in the same <see cref="FormatSet"/> (set when the set is built; a format
    /// made outside a set takes the default set's).
    /// </summary>
    internal TensorFormat ActivationFormat
    {
        get => _activationFormat ??= FormatSet.Default.For(ActivationType);
        set => _activationFormat = value;
    }

    /// <summary>True when the default set (<see cref="FormatSet.Default"/>) can compute with <paramref name="type"/>.</summary>
    public static bool IsSupported(GgmlType type) => FormatSet.Default.IsSupported(type);

    /// <summary>The implementation of <paramref name="type"/> in the default set (<see cref="FormatSet.Default"/>); a model uses its own set.</summary>
    /// <exception cref="NotSupportedException">The type is known to GGUF but not implemented here; the message names it.</exception>
    public static TensorFormat For(GgmlType type) => FormatSet.Default.For(type);
}
