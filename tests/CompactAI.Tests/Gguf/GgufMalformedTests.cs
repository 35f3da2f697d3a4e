using CompactAI.Gguf;
using CompactAI.Tensors;
using static CompactAI.Tests.Gguf.GgufTestHelpers;

namespace CompactAI.Tests.Gguf;

/// <summary>
/// Hand-made malformed files. Byte offsets used below: magic 0, version 4, tensor_count 8, kv_count 16, then the first
/// key's length at 24. For a first key "k": key bytes at 32, value type at 33, value at 37 (for an array: element type
/// at 37, count at 41, elements from 49). For a first tensor "t" (no KVs): name length 24, name 32, n_dims 33, ne[0] 37.
/// </summary>
public class GgufMalformedTests
{
    private const uint F32 = (uint)GgmlType.F32;

    /// <summary>Header with one KV "k" of the given type; the caller writes the value.</summary>
    private static GgufBytes OneKv(uint type, ulong tensorCount = 0) => new GgufBytes().Header(tensorCount, 1).Key("k", type);

    /// <summary>A file with one tensor "t" and <paramref name="dataBytes"/> of data after the aligned header.</summary>
    private static byte[] OneTensor(ulong[] dims, uint type, ulong offset, int dataBytes)
    {
        var b = new GgufBytes().Header(1, 0).TensorInfo("t", dims, type, offset).PadTo(32);
        return b.Zeros(dataBytes).ToArray();
    }

    private static void AssertAt(GgufFormatException ex, string field, long offset)
    {
        Assert.True(field == ex.Field, $"field '{ex.Field}', expected '{field}' ({ex.Message})");
        Assert.True(offset == ex.Offset, $"offset {ex.Offset}, expected {offset} ({ex.Message})");
        Assert.Contains(field, ex.Message);
    }

    [Fact]
    public void SmallValidFile_IsValid()
    {
        var bytes = SmallValidFile();
        using var f = GgufFile.FromBytes(bytes);
        Assert.Equal(3, f.Metadata.Count);
        Assert.Equal(["a", "bc"], f.Metadata.GetArray<string>("tokenizer.ggml.tokens"));
        Assert.Equal(2, f.Tensors.Count);
        Assert.Equal(bytes.Length, f.Tensors[1].FileOffset + f.Tensors[1].ByteCount); // no trailing padding
        Assert.Equal(15.5f, BitConverter.ToSingle(f.GetTensorBytes(f.Tensors[1])[^4..]));
    }

    [Fact]
    public void TruncatedAtEveryOffset_IsRefused()
    {
        var full = SmallValidFile();
        for (int n = 0; n < full.Length; n++)
        {
            var ex = Refused(full[..n]);
            Assert.False(string.IsNullOrEmpty(ex.Field), $"prefix {n}: no field ({ex.Message})");
            Assert.InRange(ex.Offset, 0, n);
        }
    }

    [Fact]
    public void Truncated_ReportsWhereTheFieldStarts()
    {
        var full = SmallValidFile();
        AssertAt(Refused(full[..2]), "magic", 0);
        AssertAt(Refused(full[..6]), "version", 4);
        AssertAt(Refused(full[..20]), "kv_count", 16);
        // Cut inside the first key's bytes: the error names the key's length field.
        var oneKv = new GgufBytes().Header(0, 1).KvString("general.architecture", "llama").ToArray();
        AssertAt(Refused(oneKv[..40]), "metadata[0].key", 24);
        // A KV count that cannot fit in what remains is refused before anything is read.
        AssertAt(Refused(full[..40]), "kv_count", 16);
        // Cut inside the first value (a string "llama" whose length field is at 24 + 8 + 20 + 4 = 56).
        AssertAt(Refused(oneKv[..66]), "general.architecture", 56);
        // Cut inside the tensor data: the first tensor whose data no longer fits is named.
        var ex = Refused(full[..^1]);
        Assert.Equal("b.weight.offset", ex.Field);
    }

    [Theory]
    [InlineData("GGML")]
    [InlineData("FUGG")]
    [InlineData("gguf")]
    [InlineData("\0\0\0\0")]
    public void BadMagic(string magic)
    {
        var bytes = SmallValidFile();
        for (int i = 0; i < 4; i++) bytes[i] = (byte)magic[i];
        var ex = Refused(bytes);
        AssertAt(ex, "magic", 0);
        Assert.Contains("magic", ex.Message);
    }

    [Theory]
    [InlineData(0u)]
    [InlineData(1u)]
    [InlineData(4u)]
    [InlineData(0x0300_0000u)] // version 3 written big-endian
    [InlineData(0x0200_0000u)]
    [InlineData(uint.MaxValue)]
    public void BadVersion(uint version)
    {
        var bytes = SmallValidFile();
        BitConverter.TryWriteBytes(bytes.AsSpan(4), version);
        var ex = Refused(bytes);
        AssertAt(ex, "version", 4);
        if (version is 0x0300_0000u or 0x0200_0000u) Assert.Contains("big-endian", ex.Message);
    }

    [Theory]
    [InlineData(ulong.MaxValue)]
    [InlineData(1UL << 62)]
    [InlineData((ulong)int.MaxValue + 1)]
    [InlineData(100_000UL)]
    public void HugeTensorCount(ulong count)
    {
        AssertAt(Refused(new GgufBytes().Header(count, 0).Zeros(4096).ToArray()), "tensor_count", 8);
    }

    [Theory]
    [InlineData(ulong.MaxValue)]
    [InlineData(1UL << 62)]
    [InlineData((ulong)int.MaxValue + 1)]
    [InlineData(100_000UL)]
    public void HugeKvCount(ulong count)
    {
        AssertAt(Refused(new GgufBytes().Header(0, count).Zeros(4096).ToArray()), "kv_count", 16);
    }

    [Fact]
    public void TensorCountThatFitsTheFileButNotWhatFollowsTheMetadata()
    {
        // 8 tensor infos need at least 8 × 32 bytes; the metadata leaves fewer.
        var b = new GgufBytes().Header(8, 1).KvString("k", new string('x', 300)).Zeros(100);
        AssertAt(Refused(b.ToArray()), "tensor_count", 8);
    }

    [Theory]
    [InlineData(ulong.MaxValue)]
    [InlineData((ulong)long.MaxValue + 1)]
    [InlineData((ulong)int.MaxValue + 1)]
    [InlineData(4097UL)] // one more than the bytes that remain
    public void HugeStringLength(ulong length)
    {
        // As a key.
        AssertAt(Refused(new GgufBytes().Header(0, 1).U64(length).Zeros(4096 - 8).U64(0).ToArray()[..(24 + 8 + 4096)]), "metadata[0].key", 24);
        // As a string value.
        AssertAt(Refused(OneKv(8).U64(length).Zeros(4096).ToArray()), "k", 37);
        // As the second string of a string array (its length field is at 49 + 9).
        AssertAt(Refused(OneKv(9).U32(8).U64(2).Str("a").U64(length).Zeros(4096).ToArray()), "k", 58);
        // As a tensor name.
        AssertAt(Refused(new GgufBytes().Header(1, 0).U64(length).Zeros(4096).ToArray()), "tensor[0].name", 24);
    }

    [Theory]
    [InlineData(0u, ulong.MaxValue)]           // u8
    [InlineData(0u, 4097UL)]                   // u8, one more than remains
    [InlineData(5u, 4096UL / 4 + 1)]           // i32
    [InlineData(10u, 4096UL / 8 + 1)]          // u64
    [InlineData(8u, 4096UL / 8 + 1)]           // strings (each at least 8 bytes)
    [InlineData(9u, 4096UL / 12 + 1)]          // arrays (each at least 12 bytes)
    [InlineData(8u, (ulong)int.MaxValue + 1)]
    [InlineData(9u, 1UL << 63)]
    public void HugeArrayCount(uint elementType, ulong count)
    {
        AssertAt(Refused(OneKv(9).U32(elementType).U64(count).Zeros(4096).ToArray()), "k.count", 41);
    }

    [Theory]
    [InlineData(8u, 4096 / 8)]     // 512 empty strings
    [InlineData(9u, 4092 / 12)]    // 341 empty u8 arrays (4092 bytes), the 4 left over ignored
    [InlineData(0u, 4096)]
    public void ArrayCountThatExactlyFits_IsAccepted(uint elementType, int count)
    {
        var bytes = OneKv(9).U32(elementType).U64((ulong)count).Zeros(4096).ToArray();
        using var f = GgufFile.FromBytes(bytes);
        Assert.Equal(count, f.Metadata["k"].Count);
    }

    [Fact]
    public void NestedArrayCount_ReportsTheInnerCountField()
    {
        // Outer: array of 1 array; inner element type at 49, inner count at 53.
        AssertAt(Refused(OneKv(9).U32(9).U64(1).U32(4).U64(ulong.MaxValue).Zeros(64).ToArray()), "k.count", 53);
    }

    [Theory]
    [InlineData(13u)]
    [InlineData(100u)]
    [InlineData(0x8000_0008u)]
    [InlineData(uint.MaxValue)]
    public void UnknownValueType(uint type)
    {
        AssertAt(Refused(OneKv(type).Zeros(64).ToArray()), "k", 33);
    }

    [Theory]
    [InlineData(13u)]
    [InlineData(uint.MaxValue)]
    public void UnknownArrayElementType(uint type)
    {
        AssertAt(Refused(OneKv(9).U32(type).U64(1).Zeros(64).ToArray()), "k", 37);
        // Inside an array of arrays: the inner element type is at 49.
        AssertAt(Refused(OneKv(9).U32(9).U64(1).U32(type).U64(0).Zeros(64).ToArray()), "k", 49);
    }

    [Theory]
    [InlineData(4u)]   // Q4_2, removed from ggml
    [InlineData(5u)]   // Q4_3, removed from ggml
    [InlineData(31u)]
    [InlineData(40u)]
    [InlineData(1000u)]
    [InlineData(uint.MaxValue)]
    public void UnknownTensorType(uint type)
    {
        // Type id after name (24..33), n_dims (33), ne[0] (37): at 45.
        AssertAt(Refused(OneTensor([256], type, 0, 4096)), "t.type", 45);
    }

    [Theory]
    [InlineData(0u)]
    [InlineData(5u)]
    [InlineData(uint.MaxValue)]
    public void BadDimensionCount(uint nDims)
    {
        var b = new GgufBytes().Header(1, 0).Str("t").U32(nDims);
        for (int i = 0; i < 5; i++) b.U64(1);
        AssertAt(Refused(b.U32(F32).U64(0).PadTo(32).Zeros(64).ToArray()), "t.n_dims", 33);
    }

    [Fact]
    public void DimensionProductOverflow()
    {
        AssertAt(Refused(OneTensor([1UL << 32, 1UL << 32], F32, 0, 64)), "t.ne[1]", 45);
        AssertAt(Refused(OneTensor([2, 3, 1UL << 62, 2], F32, 0, 64)), "t.ne[2]", 53);
        AssertAt(Refused(OneTensor([ulong.MaxValue], F32, 0, 64)), "t.ne[0]", 37);
        AssertAt(Refused(OneTensor([1, (ulong)long.MaxValue + 1], F32, 0, 64)), "t.ne[1]", 45);
        // The element count fits in 64 bits but the byte count does not.
        AssertAt(Refused(OneTensor([1UL << 62], F32, 0, 64)), "t.ne", 33);
        AssertAt(Refused(OneTensor([32, (1UL << 58) - 1], (uint)GgmlType.Q8_0, 0, 64)), "t.ne", 33); // 34 bytes per 32
        // Fits in 64 bits but not in the file.
        Assert.Equal("t.offset", Refused(OneTensor([1UL << 30, 1UL << 30], F32, 0, 64)).Field);
    }

    [Theory]
    [InlineData(GgmlType.Q8_0, 33UL)]
    [InlineData(GgmlType.Q8_0, 16UL)]
    [InlineData(GgmlType.Q4_K, 128UL)]
    [InlineData(GgmlType.Q4_K, 288UL)]
    [InlineData(GgmlType.Q4_0, 31UL)]
    public void RowLengthNotAMultipleOfTheBlockSize(GgmlType type, ulong rowLength)
    {
        AssertAt(Refused(OneTensor([rowLength, 2], (uint)type, 0, 4096)), "t.ne[0]", 37);
    }

    [Fact]
    public void MisalignedTensorOffset()
    {
        // Offset field of "t" (1 dim) at 49.
        AssertAt(Refused(OneTensor([4], F32, 16, 64)), "t.offset", 49);
        AssertAt(Refused(OneTensor([4], F32, 1, 64)), "t.offset", 49);
        // With general.alignment = 64, 32 is misaligned; with 1 anything goes.
        var b64 = new GgufBytes().Header(1, 1).KvU32("general.alignment", 64).TensorInfo("t", [4], F32, 32).PadTo(64).Zeros(128).ToArray();
        Assert.Equal("t.offset", Refused(b64).Field);
        var b1 = new GgufBytes().Header(1, 1).KvU32("general.alignment", 1).TensorInfo("t", [4], F32, 3).Zeros(19).ToArray();
        using var f = GgufFile.FromBytes(b1);
        Assert.Equal(1, f.Alignment);
        Assert.Equal(3, f.Tensors[0].DataOffset);
        Assert.Equal(b1.Length - 16, f.Tensors[0].FileOffset);
    }

    [Fact]
    public void TensorDataOutsideTheFile()
    {
        // 32 bytes needed, 31 present.
        AssertAt(Refused(OneTensor([8], F32, 0, 31)), "t.offset", 49);
        // Offset past the end.
        AssertAt(Refused(OneTensor([8], F32, 64, 64)), "t.offset", 49);
        // Offset near 2^64 (aligned), so that offset + size wraps around.
        AssertAt(Refused(OneTensor([8], F32, ulong.MaxValue - 31, 64)), "t.offset", 49);
        // The data section itself would start past the end (header ends at 57, no padding follows).
        var noData = new GgufBytes().Header(1, 0).TensorInfo("t", [8], F32, 0).ToArray();
        AssertAt(Refused(noData), "data", 57);
        // And the exact fit is fine.
        using var f = GgufFile.FromBytes(OneTensor([8], F32, 0, 32));
        Assert.Equal(32, f.Tensors[0].ByteCount);
    }

    [Fact]
    public void DuplicateKey()
    {
        var b = new GgufBytes().Header(0, 2).KvU32("k", 1);
        long second = b.Position;
        AssertAt(Refused(b.KvU32("k", 2).ToArray()), "k", second);
    }

    [Fact]
    public void DuplicateTensorName()
    {
        var b = new GgufBytes().Header(2, 0).TensorInfo("t", [8], F32, 0);
        long second = b.Position;
        AssertAt(Refused(b.TensorInfo("t", [8], F32, 32).PadTo(32).Zeros(64).ToArray()), "t", second);
    }

    [Theory]
    [InlineData(0u)]
    [InlineData(3u)]
    [InlineData(48u)]
    [InlineData(1u << 21)]
    [InlineData(uint.MaxValue)]
    public void BadAlignmentValue(uint alignment)
    {
        // Key "general.alignment" (17 bytes): type at 24 + 8 + 17 = 49, value at 53.
        var bytes = new GgufBytes().Header(0, 1).KvU32("general.alignment", alignment).ToArray();
        AssertAt(Refused(bytes), "general.alignment", 53);
    }

    [Fact]
    public void AlignmentOfTheWrongType()
    {
        AssertAt(Refused(new GgufBytes().Header(0, 1).Key("general.alignment", 5).I32(32).ToArray()), "general.alignment", 49);
        AssertAt(Refused(new GgufBytes().Header(0, 1).Key("general.alignment", 10).U64(32).ToArray()), "general.alignment", 49);
        AssertAt(Refused(new GgufBytes().Header(0, 1).Key("general.alignment", 2).U16(32).ToArray()), "general.alignment", 49);
        AssertAt(Refused(new GgufBytes().Header(0, 1).KvString("general.alignment", "32").ToArray()), "general.alignment", 49);
        AssertAt(Refused(new GgufBytes().Header(0, 1).Key("general.alignment", 9).U32(4).U64(1).U32(32).ToArray()), "general.alignment", 49);
    }

    private static byte[] NestedArrays(int levels)
    {
        var b = OneKv(9);
        for (int i = 0; i < levels - 1; i++) b.U32(9).U64(1);
        return b.U32(5).U64(1).I32(42).ToArray();
    }

    [Fact]
    public void NestingDepth()
    {
        using (var f = GgufFile.FromBytes(NestedArrays(16)))
        {
            var v = f.Metadata["k"];
            for (int i = 0; i < 15; i++) v = Assert.Single((GgufValue[])v.Value);
            Assert.Equal([42], (int[])v.Value);
        }
        var ex = Refused(NestedArrays(17));
        Assert.Equal("k", ex.Field);
        Assert.Equal(37 + 16 * 12, ex.Offset); // where the 17th level starts
        // Far deeper than any stack could recurse: refused, not a StackOverflow.
        Assert.Equal("k", Refused(NestedArrays(200_000)).Field);
    }

    [Fact]
    public void BoolByteOtherThanZeroOrOne()
    {
        AssertAt(Refused(OneKv(7).U8(2).ToArray()), "k", 37);
        AssertAt(Refused(OneKv(7).U8(0xFF).ToArray()), "k", 37);
        // In an array: the third element (at 49 + 2).
        AssertAt(Refused(OneKv(9).U32(7).U64(3).U8(1).U8(0).U8(2).ToArray()), "k", 51);
        using var ok = GgufFile.FromBytes(OneKv(9).U32(7).U64(2).U8(1).U8(0).ToArray());
        Assert.Equal([true, false], ok.Metadata.GetArray<bool>("k"));
    }

    [Fact]
    public void InvalidUtf8InKeysAndTensorNames()
    {
        // Keys and names are identifiers: bytes that are not UTF-8 would otherwise decode to U+FFFD and make distinct
        // keys collide (or look up the wrong key).
        AssertAt(Refused(new GgufBytes().Header(0, 1).U64(2).U8(0xC3).U8(0x28).U32(4).U32(1).ToArray()), "metadata[0].key", 24);
        AssertAt(Refused(new GgufBytes().Header(0, 1).U64(1).U8(0xFF).U32(4).U32(1).ToArray()), "metadata[0].key", 24);
        var badName = new GgufBytes().Header(1, 0).U64(1).U8(0x80).U32(1).U64(8).U32(F32).U64(0).PadTo(32).Zeros(32).ToArray();
        AssertAt(Refused(badName), "tensor[0].name", 24);
        // String values stay lenient (some vocabularies hold tokens that are not valid UTF-8 on their own).
        using var f = GgufFile.FromBytes(OneKv(8).U64(1).U8(0xFF).ToArray());
        Assert.Equal("\uFFFD", f.Metadata.GetString("k"));
    }

    [Fact]
    public void LargeInvalidUtf8Value_IsDecodedLikeEncodingUtf8_WithinTheAllocationBound()
    {
        var garbage = new byte[300_000];
        new Random(5).NextBytes(garbage);
        var bytes = OneKv(8).U64((ulong)garbage.Length).Raw(garbage).ToArray();
        var (error, allocated) = Parse(bytes);
        Assert.Null(error);
        AssertAllocationBound(bytes.Length, allocated);
        using var f = GgufFile.FromBytes(bytes);
        Assert.Equal(System.Text.Encoding.UTF8.GetString(garbage), f.Metadata.GetString("k"));
    }

    [Fact]
    public void ShortInputs()
    {
        AssertAt(Refused([]), "magic", 0);
        AssertAt(Refused("GGU"u8.ToArray()), "magic", 0);
        AssertAt(Refused("GGUF\x03\0\0"u8.ToArray()), "version", 4);
        AssertAt(Refused(new GgufBytes().Header(0, 0).ToArray()[..23]), "kv_count", 16);
        // The shortest valid file: a bare header.
        using var f = GgufFile.FromBytes(new GgufBytes().Header(0, 0).ToArray());
        Assert.Empty(f.Tensors);
        Assert.Empty(f.Metadata);
    }

    [Fact]
    public void ManyTinyKvs_AllocationStaysBounded()
    {
        // A valid file made of the smallest possible KVs (distinct 3-character keys, u8 values): the worst case for
        // per-entry overhead in the metadata dictionary.
        const int n = 60_000;
        var b = new GgufBytes().Header(0, n);
        for (int i = 0; i < n; i++) b.U64(3).U8((byte)(33 + i % 90)).U8((byte)(33 + i / 90 % 90)).U8((byte)(33 + i / 8100)).U32(0).U8(1);
        var bytes = b.ToArray();
        var (error, allocated) = Parse(bytes);
        Assert.Null(error);
        AssertAllocationBound(bytes.Length, allocated);
    }
}
