namespace CompactAI.Tensors;

/// <summary>A 2-D weight tensor viewed in place (memory-mapped): <see cref="Rows"/> rows of <see cref="Columns"/> elements.</summary>
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

    /// <summary>Row <paramref name="r"/>'s bytes.</summary>
    public ReadOnlySpan<byte> Row(int r) => new(Data + r * RowBytes, (int)RowBytes);

    /// <summary>Dequantizes row <paramref name="r"/> into <paramref name="dst"/> (used for embedding lookup).</summary>
    public void DequantizeRow(int r, Span<float> dst) => Format.Dequantize(Row(r), dst[..Columns]);
}
