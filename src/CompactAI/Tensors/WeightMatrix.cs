using System.Buffers;

namespace CompactAI.Tensors;

/// <summary>
/// A 2-D weight tensor: <see cref="Rows"/> rows of <see cref="Columns"/> elements, viewed in place in the memory-mapped file
/// or, for a format that interleaves groups of rows (<see cref="TensorFormat.RowGroup"/>), in the copy made at load.
/// </summary>
internal readonly unsafe struct WeightMatrix
{
    public WeightMatrix(byte* data, int rows, int columns, TensorFormat format)
    {
        Data = data;
        Rows = rows;
        Columns = columns;
        Format = format;
        RowBytes = format.RowBytes(columns);
    }

    /// <summary>First byte of row 0.</summary>
    public byte* Data { get; }

    /// <summary>Output features.</summary>
    public int Rows { get; }

    /// <summary>Input features (the contiguous dimension).</summary>
    public int Columns { get; }

    /// <summary>The element/block format.</summary>
    public TensorFormat Format { get; }

    /// <summary>Bytes per row.</summary>
    public long RowBytes { get; }

    /// <summary>Row <paramref name="r"/>'s bytes, in place; only for the row-major layout (<see cref="TensorFormat.RowGroup"/> 1).</summary>
    public ReadOnlySpan<byte> Row(int r)
    {
        if (Format.RowGroup != 1) throw new InvalidOperationException($"The rows of a {Format.RowGroup}-row interleaved matrix are not contiguous; use CopyRow.");
        return new(Data + r * RowBytes, (int)RowBytes);
    }

    /// <summary>Copies row <paramref name="r"/> into <paramref name="dst"/> (<see cref="RowBytes"/> bytes) in the GGUF row layout of its type.</summary>
    public void CopyRow(int r, Span<byte> dst) => Format.CopyRow(Data, RowBytes, r, dst);

    /// <summary>Dequantizes row <paramref name="r"/> into <paramref name="dst"/> (used for embedding lookup).</summary>
    public void DequantizeRow(int r, Span<float> dst)
    {
        if (Format.RowGroup == 1)
        {
            Format.Dequantize(Row(r), dst[..Columns]);
            return;
        }
        byte[] row = ArrayPool<byte>.Shared.Rent((int)RowBytes);
        try
        {
            CopyRow(r, row);
            Format.Dequantize(row.AsSpan(0, (int)RowBytes), dst[..Columns]);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(row);
        }
    }
}
