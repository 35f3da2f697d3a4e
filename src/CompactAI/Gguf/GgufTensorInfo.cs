using CompactAI.Tensors;

namespace CompactAI.Gguf;

/// <summary>
/// One tensor's entry in a GGUF file: name, shape (<see cref="Dimensions"/>[0] is the contiguous row length),
/// element type and where its bytes lie.
/// </summary>
public sealed class GgufTensorInfo
{
    internal GgufTensorInfo(string name, long[] dimensions, GgmlType type, long dataOffset, long fileOffset, long elementCount, long byteCount)
    {
        Name = name;
        Dimensions = dimensions;
        Type = type;
        DataOffset = dataOffset;
        FileOffset = fileOffset;
        ElementCount = elementCount;
        ByteCount = byteCount;
    }

    /// <summary>The tensor's name, e.g. <c>blk.0.attn_q.weight</c>.</summary>
    public string Name { get; }

    /// <summary>The shape, innermost (contiguous) first, as GGUF stores it (<c>ne</c>).</summary>
    public IReadOnlyList<long> Dimensions { get; }

    /// <summary>The element/block format.</summary>
    public GgmlType Type { get; }

    /// <summary>Offset of the data relative to the start of the data section.</summary>
    public long DataOffset { get; }

    /// <summary>Absolute offset of the data in the file.</summary>
    public long FileOffset { get; }

    /// <summary>Number of elements (product of the dimensions).</summary>
    public long ElementCount { get; }

    /// <summary>Number of bytes of data.</summary>
    public long ByteCount { get; }

    /// <summary>Length of one row (<see cref="Dimensions"/>[0]).</summary>
    public long RowLength => Dimensions[0];

    /// <summary>Number of rows (the product of all dimensions but the first).</summary>
    public long RowCount => ElementCount / Math.Max(1, Dimensions[0]);

    /// <inheritdoc />
    public override string ToString() => $"{Name} {Type} [{string.Join(", ", Dimensions)}]";
}
