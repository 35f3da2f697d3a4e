namespace CompactAI.Tensors;

public static partial class TensorMath
{
    /// <summary>
    /// Bytes taken by a row of <paramref name="elements"/> elements in <paramref name="type"/>:
    /// elements / blockSize · blockBytes (e.g. Q8_0: 32 elements in 34 bytes).
    /// </summary>
    /// <param name="type">The format.</param>
    /// <param name="elements">Elements in the row, a multiple of the format's block size.</param>
    /// <returns>The row's size in bytes.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="type"/> is unknown, or <paramref name="elements"/> is negative.</exception>
    /// <exception cref="ArgumentException"><paramref name="elements"/> is not a multiple of the block size, or the row exceeds 2 GiB.</exception>
    public static int RowBytes(GgmlType type, int elements)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(elements);
        long bytes = GgmlTypeInfo.RowBytes(type, elements);
        if (bytes > int.MaxValue) throw new ArgumentException($"A {type} row of {elements} elements takes {bytes} bytes, more than a span holds.", nameof(elements));
        return (int)bytes;
    }

    /// <summary>
    /// Encodes a row of floats into <paramref name="type"/> blocks, as llama.cpp's reference quantizer does (for block
    /// formats: per block a scale d and integers q with x ≈ d·q; K-quants add per-sub-block scales and minimums). This is
    /// the quantizer the engine uses for activations and <c>ModelQuantizer</c> for weights.
    /// </summary>
    /// <param name="source">The row, a multiple of the format's block size (1 for F32, F16, BF16; 32 or 256 for the others).</param>
    /// <param name="type">A format this engine quantizes to: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, Q2_K … Q6_K, Q8_K.</param>
    /// <param name="destination">Receives <see cref="RowBytes"/>(type, source.Length) bytes.</param>
    /// <exception cref="ArgumentException"><paramref name="source"/> is not a whole number of blocks, or <paramref name="destination"/> is too short.</exception>
    /// <exception cref="NotSupportedException">The engine cannot quantize to <paramref name="type"/>.</exception>
    public static void QuantizeRow(ReadOnlySpan<float> source, GgmlType type, Span<byte> destination)
    {
        int bytes = RowBytesOf(type, source.Length, nameof(source));
        if (destination.Length < bytes) ThrowDestinationTooShort(bytes, destination.Length, nameof(destination));
        var format = TensorFormat.For(type);
        if (!format.CanQuantize) throw new NotSupportedException($"Quantizing to {type} is not supported.");
        if (source.Length == 0) return;
        format.Quantize(source, destination[..bytes]);
    }

    /// <summary>
    /// Decodes <c>destination.Length</c> elements from a row in <paramref name="type"/> (for block formats: x = d·q per
    /// element, plus the block minimum where the format has one). The engine dequantizes weights with this code.
    /// </summary>
    /// <param name="source">The encoded row: at least <see cref="RowBytes"/>(type, destination.Length) bytes.</param>
    /// <param name="type">The row's format; any format the engine computes with.</param>
    /// <param name="destination">Receives the values; its length, a multiple of the block size, is the row's element count.</param>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is not a whole number of blocks, or <paramref name="source"/> is too short.</exception>
    /// <exception cref="NotSupportedException">The engine does not compute with <paramref name="type"/>.</exception>
    public static void DequantizeRow(ReadOnlySpan<byte> source, GgmlType type, Span<float> destination)
    {
        int bytes = RowBytesOf(type, destination.Length, nameof(destination));
        if (source.Length < bytes)
            throw new ArgumentException($"'{nameof(source)}' has {source.Length} bytes but {destination.Length} {type} elements take {bytes}.", nameof(source));
        var format = TensorFormat.For(type);
        if (destination.Length == 0) return;
        format.Dequantize(source[..bytes], destination);
    }

    private static int RowBytesOf(GgmlType type, int elements, string paramName)
    {
        if (!GgmlTypeInfo.TryGetLayout(type, out int blockSize, out int blockBytes))
            throw new ArgumentOutOfRangeException(nameof(type), type, $"Unknown tensor type id {(uint)type}.");
        if (elements % blockSize != 0)
            throw new ArgumentException($"'{paramName}' has {elements} elements; a {type} row must hold a multiple of {blockSize}.", paramName);
        long bytes = (long)elements / blockSize * blockBytes;
        if (bytes > int.MaxValue) throw new ArgumentException($"A {type} row of {elements} elements takes {bytes} bytes, more than a span holds.", paramName);
        return (int)bytes;
    }
}
