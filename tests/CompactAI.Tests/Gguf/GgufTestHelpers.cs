using CompactAI.Gguf;
using CompactAI.Tensors;

namespace CompactAI.Tests.Gguf;

internal static class GgufTestHelpers
{
    /// <summary>
    /// Parses <paramref name="bytes"/>, requires exactly a <see cref="GgufFormatException"/>, and requires the parse to have
    /// allocated less than 64 KiB + 8 × the input size.
    /// </summary>
    public static GgufFormatException Refused(byte[] bytes)
    {
        var (ex, allocated) = Parse(bytes);
        if (ex is not GgufFormatException gfe)
            throw new Xunit.Sdk.XunitException(ex is null
                ? $"A {bytes.Length}-byte malformed input was accepted."
                : $"Expected GgufFormatException, got {ex.GetType().Name}: {ex}");
        AssertAllocationBound(bytes.Length, allocated);
        return gfe;
    }

    /// <summary>Parses and returns the exception (null when accepted) and the bytes this thread allocated meanwhile.</summary>
    public static (Exception? Error, long Allocated) Parse(byte[] bytes)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        Exception? error = null;
        try
        {
            using var f = GgufFile.FromBytes(bytes);
            CheckConsistent(f);
        }
        catch (Exception e)
        {
            error = e;
        }
        return (error, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    public static void AssertAllocationBound(long inputLength, long allocated)
    {
        long bound = 64 * 1024 + 8 * inputLength;
        Assert.True(allocated < bound, $"parsing {inputLength} bytes allocated {allocated} bytes (bound {bound})");
    }

    /// <summary>Invariants of any accepted file: every tensor's bytes lie, aligned, inside the data section.</summary>
    public static void CheckConsistent(GgufFile f)
    {
        Assert.True(f.Version is 2 or 3);
        Assert.Equal(0, f.DataOffset % f.Alignment);
        foreach (var t in f.Tensors)
        {
            Assert.Equal(0, t.DataOffset % f.Alignment);
            Assert.Equal(f.DataOffset + t.DataOffset, t.FileOffset);
            Assert.InRange(t.FileOffset + t.ByteCount, 0, f.Length);
            Assert.InRange(t.Dimensions.Count, 1, 4);
            Assert.Same(t, f.FindTensor(t.Name));
            Assert.Equal(t.ByteCount, f.GetTensorBytes(t).Length);
        }
        foreach (var (_, v) in f.Metadata) _ = v.ToString();
    }

    /// <summary>Writes back what was read, in the same order, with the same version and alignment.</summary>
    public static byte[] Rewrite(GgufFile f)
    {
        var w = new GgufWriter(f.Alignment, f.Version);
        foreach (var (key, value) in f.Metadata) w.Add(key, value);
        foreach (var t in f.Tensors) w.AddTensor(t.Name, t.Type, t.Dimensions.ToArray(), f.GetTensorBytes(t).ToArray());
        var ms = new MemoryStream();
        w.WriteTo(ms);
        return ms.ToArray();
    }

    public static byte[] Write(GgufWriter w)
    {
        var ms = new MemoryStream();
        w.WriteTo(ms);
        return ms.ToArray();
    }

    /// <summary>Structural equality of two values; floats compare by bit pattern (NaN payloads and -0 included).</summary>
    public static void AssertSameValue(GgufValue expected, GgufValue actual, string where)
    {
        Assert.True(expected.Type == actual.Type, $"{where}: type {actual.Type}, expected {expected.Type}");
        if (expected.Type != GgufValueType.Array)
        {
            AssertSameScalar(expected.Value, actual.Value, where);
            return;
        }
        Assert.True(expected.ElementType == actual.ElementType, $"{where}: element type {actual.ElementType}, expected {expected.ElementType}");
        var e = (Array)expected.Value;
        var a = (Array)actual.Value;
        Assert.Equal(e.GetType(), a.GetType());
        Assert.True(e.Length == a.Length, $"{where}: {a.Length} elements, expected {e.Length}");
        for (int i = 0; i < e.Length; i++)
        {
            object ei = e.GetValue(i)!, ai = a.GetValue(i)!;
            if (ei is GgufValue ev) AssertSameValue(ev, (GgufValue)ai, $"{where}[{i}]");
            else AssertSameScalar(ei, ai, $"{where}[{i}]");
        }
    }

    private static void AssertSameScalar(object expected, object actual, string where)
    {
        Assert.True(expected.GetType() == actual.GetType(), $"{where}: {actual.GetType().Name}, expected {expected.GetType().Name}");
        switch (expected)
        {
            case float f: Assert.Equal(BitConverter.SingleToUInt32Bits(f), BitConverter.SingleToUInt32Bits((float)actual)); break;
            case double d: Assert.Equal(BitConverter.DoubleToUInt64Bits(d), BitConverter.DoubleToUInt64Bits((double)actual)); break;
            default: Assert.Equal(expected, actual); break;
        }
    }

    /// <summary>
    /// A small valid file: 3 KVs (one of them an array) and 2 F32 tensors, written by hand. The last tensor ends exactly at
    /// the end of the file (no trailing padding), so every proper prefix is invalid.
    /// </summary>
    public static byte[] SmallValidFile()
    {
        var b = new GgufBytes()
            .Header(tensorCount: 2, kvCount: 3)
            .KvString("general.architecture", "llama")
            .KvU32("llama.block_count", 1);
        b.Key("tokenizer.ggml.tokens", 9).U32(8).U64(2).Str("a").Str("bc");
        b.TensorInfo("a.weight", [4, 2], (uint)GgmlType.F32, 0)      // 32 bytes at 0
         .TensorInfo("b.weight", [8], (uint)GgmlType.F32, 32);      // 32 bytes at 32
        b.PadTo(32);
        for (int i = 0; i < 16; i++) b.F32(i + 0.5f);
        return b.ToArray();
    }
}
