using CompactAI.Gguf;
using CompactAI.Tensors;
using static CompactAI.Tests.Gguf.GgufTestHelpers;

namespace CompactAI.Tests.Gguf;

public class GgufRoundTripTests
{
    private static GgufValue Scalar(GgufValueType t, object v) => new(t, v);
    private static GgufValue Arr(GgufValueType elem, object v) => new(GgufValueType.Array, v, elem);

    private static readonly float NaNWithPayload = BitConverter.UInt32BitsToSingle(0x7FC0_1234);
    private static readonly double DoubleNaNWithPayload = BitConverter.UInt64BitsToDouble(0xFFF8_0000_0000_BEEF);

    /// <summary>Every value type the format has, arrays of each (empty too), nested arrays and unicode keys.</summary>
    internal static List<KeyValuePair<string, GgufValue>> AllValues() =>
    [
        new("u8.min", Scalar(GgufValueType.UInt8, (byte)0)),
        new("u8.max", Scalar(GgufValueType.UInt8, byte.MaxValue)),
        new("i8", Scalar(GgufValueType.Int8, sbyte.MinValue)),
        new("u16", Scalar(GgufValueType.UInt16, ushort.MaxValue)),
        new("i16", Scalar(GgufValueType.Int16, short.MinValue)),
        new("u32", Scalar(GgufValueType.UInt32, uint.MaxValue)),
        new("i32", Scalar(GgufValueType.Int32, int.MinValue)),
        new("f32", Scalar(GgufValueType.Float32, 1.5e-7f)),
        new("f32.negzero", Scalar(GgufValueType.Float32, -0f)),
        new("f32.nan", Scalar(GgufValueType.Float32, NaNWithPayload)),
        new("f32.subnormal", Scalar(GgufValueType.Float32, float.Epsilon)),
        new("bool.true", Scalar(GgufValueType.Bool, true)),
        new("bool.false", Scalar(GgufValueType.Bool, false)),
        new("str.empty", Scalar(GgufValueType.String, "")),
        new("str.nul", Scalar(GgufValueType.String, "a\0b")),
        new("str.unicode", Scalar(GgufValueType.String, "héllo wörld — 世界 🦙 \u0301")),
        new("u64", Scalar(GgufValueType.UInt64, ulong.MaxValue)),
        new("i64", Scalar(GgufValueType.Int64, long.MinValue)),
        new("f64", Scalar(GgufValueType.Float64, Math.PI)),
        new("f64.negzero", Scalar(GgufValueType.Float64, -0.0)),
        new("f64.nan", Scalar(GgufValueType.Float64, DoubleNaNWithPayload)),
        new("clé.général", Scalar(GgufValueType.String, "valeur")),
        new("模型.名字", Scalar(GgufValueType.UInt32, 7u)),
        new("emoji.🦙", Scalar(GgufValueType.Bool, true)),
        new("", Scalar(GgufValueType.String, "empty key")),
        new("arr.u8", Arr(GgufValueType.UInt8, new byte[] { 0, 1, 255 })),
        new("arr.i8", Arr(GgufValueType.Int8, new sbyte[] { -128, 0, 127 })),
        new("arr.u16", Arr(GgufValueType.UInt16, new ushort[] { 0, 65535 })),
        new("arr.i16", Arr(GgufValueType.Int16, new short[] { -32768, 32767, -1 })),
        new("arr.u32", Arr(GgufValueType.UInt32, new uint[] { 0, uint.MaxValue })),
        new("arr.i32", Arr(GgufValueType.Int32, new[] { int.MinValue, -1, int.MaxValue })),
        new("arr.f32", Arr(GgufValueType.Float32, new[] { 1f, -0f, NaNWithPayload, float.PositiveInfinity })),
        new("arr.bool", Arr(GgufValueType.Bool, new[] { true, false, true })),
        new("arr.str", Arr(GgufValueType.String, new[] { "", "a", "日本語", "🦙🦙", "a\0" })),
        new("arr.u64", Arr(GgufValueType.UInt64, new[] { 0ul, ulong.MaxValue })),
        new("arr.i64", Arr(GgufValueType.Int64, new[] { long.MinValue, long.MaxValue })),
        new("arr.f64", Arr(GgufValueType.Float64, new[] { double.Epsilon, -0.0, DoubleNaNWithPayload })),
        new("empty.u8", Arr(GgufValueType.UInt8, Array.Empty<byte>())),
        new("empty.i8", Arr(GgufValueType.Int8, Array.Empty<sbyte>())),
        new("empty.u16", Arr(GgufValueType.UInt16, Array.Empty<ushort>())),
        new("empty.i16", Arr(GgufValueType.Int16, Array.Empty<short>())),
        new("empty.u32", Arr(GgufValueType.UInt32, Array.Empty<uint>())),
        new("empty.i32", Arr(GgufValueType.Int32, Array.Empty<int>())),
        new("empty.f32", Arr(GgufValueType.Float32, Array.Empty<float>())),
        new("empty.bool", Arr(GgufValueType.Bool, Array.Empty<bool>())),
        new("empty.str", Arr(GgufValueType.String, Array.Empty<string>())),
        new("empty.u64", Arr(GgufValueType.UInt64, Array.Empty<ulong>())),
        new("empty.i64", Arr(GgufValueType.Int64, Array.Empty<long>())),
        new("empty.f64", Arr(GgufValueType.Float64, Array.Empty<double>())),
        new("empty.arr", Arr(GgufValueType.Array, Array.Empty<GgufValue>())),
        new("nested.i32", Arr(GgufValueType.Array, new[]
        {
            Arr(GgufValueType.Int32, new[] { 1, 2, 3 }),
            Arr(GgufValueType.Int32, Array.Empty<int>()),
            Arr(GgufValueType.Int32, new[] { -7 }),
        })),
        new("nested.str", Arr(GgufValueType.Array, new[]
        {
            Arr(GgufValueType.String, new[] { "merge a", "ü b" }),
            Arr(GgufValueType.String, Array.Empty<string>()),
        })),
        new("nested.mixed3", Arr(GgufValueType.Array, new[]
        {
            Arr(GgufValueType.Array, new[] { Arr(GgufValueType.Float64, new[] { 0.25 }), Arr(GgufValueType.Bool, new[] { true }) }),
            Arr(GgufValueType.UInt8, new byte[] { 9 }),
        })),
    ];

    /// <summary>Tensors of F32/F16/Q8_0/Q4_K with 1–4 dimensions and an expected byte size taken from FACTS.md, not from the code.</summary>
    internal static (string Name, GgmlType Type, long[] Dims, int Bytes)[] AllTensors() =>
    [
        ("f32.1d", GgmlType.F32, [5], 5 * 4),                 // 20 bytes: forces padding after it
        ("f16.2d", GgmlType.F16, [3, 7], 21 * 2),
        ("q8_0.3d", GgmlType.Q8_0, [64, 2, 3], 2 * 6 * 34),   // 32 weights per 34-byte block
        ("q4_k.4d", GgmlType.Q4_K, [256, 1, 2, 2], 4 * 144),  // 256 weights per 144-byte block
        ("q8_0.empty", GgmlType.Q8_0, [32, 0], 0),
        ("blk.0.ünïcode/név", GgmlType.F32, [1, 1, 1, 1], 4),
    ];

    public static TheoryData<int, uint> Layouts() => new()
    {
        { 32, 3 }, { 32, 2 }, { 64, 3 }, { 64, 2 }, { 1, 3 }, { 8, 3 }, { 4096, 2 },
    };

    [Theory]
    [MemberData(nameof(Layouts))]
    public void WriterThenReader_IsExact(int alignment, uint version)
    {
        var rng = new Random(alignment * 10 + (int)version);
        var w = new GgufWriter(alignment, version);
        var values = AllValues();
        foreach (var (k, v) in values) w.Add(k, v);
        var tensors = AllTensors();
        var data = new Dictionary<string, byte[]>();
        foreach (var (name, type, dims, size) in tensors)
        {
            var bytes = new byte[size];
            rng.NextBytes(bytes);
            data[name] = bytes;
            w.AddTensor(name, type, dims, bytes);
        }
        var file = Write(w);

        using var f = GgufFile.FromBytes(file);
        Assert.Equal(version, f.Version);
        Assert.Equal(alignment, f.Alignment);
        Assert.Equal(file.LongLength, f.Length);

        // Metadata: same keys in the same order, values exact; general.alignment appears only when not the default.
        var expectedKeys = (alignment == 32 ? [] : new[] { "general.alignment" }).Concat(values.Select(kv => kv.Key)).ToArray();
        Assert.Equal(expectedKeys, f.Metadata.Keys.ToArray());
        Assert.Equal(expectedKeys.Length, f.Metadata.Count);
        if (alignment != 32) Assert.Equal((uint)alignment, f.Metadata["general.alignment"].Value);
        foreach (var (k, v) in values) AssertSameValue(v, f.Metadata[k], k);

        // Tensors: infos, aligned offsets packed as llama.cpp packs them, identical bytes.
        Assert.Equal(0, f.DataOffset % alignment);
        Assert.Equal(tensors.Select(t => t.Name), f.Tensors.Select(t => t.Name));
        long expectedOffset = 0;
        for (int i = 0; i < tensors.Length; i++)
        {
            var (name, type, dims, size) = tensors[i];
            var t = f.Tensors[i];
            Assert.Equal(type, t.Type);
            Assert.Equal(dims, t.Dimensions);
            Assert.Equal(dims.Aggregate(1L, (a, b) => a * b), t.ElementCount);
            Assert.Equal(size, t.ByteCount);
            Assert.Equal(expectedOffset, t.DataOffset);
            Assert.Equal(0, t.DataOffset % alignment);
            Assert.Equal(0, t.FileOffset % alignment);
            Assert.Equal(f.DataOffset + t.DataOffset, t.FileOffset);
            Assert.True(data[name].AsSpan().SequenceEqual(f.GetTensorBytes(t)), $"bytes of {name}");
            expectedOffset = (expectedOffset + size + alignment - 1) / alignment * alignment;
        }
        Assert.Equal(f.DataOffset + expectedOffset, file.LongLength);

        // Byte level: writing back what was read reproduces the file.
        Assert.Equal(file, Rewrite(f));
    }

    [Fact]
    public void Writer_MatchesHandWrittenLayout()
    {
        // The same file built byte by byte from the format description (FACTS.md) and by the writer.
        var expected = new GgufBytes()
            .Header(tensorCount: 2, kvCount: 3, version: 3)
            .KvU32("general.alignment", 64)
            .KvString("general.architecture", "llama");
        expected.Key("arr", 9).U32(9).U64(2)       // array of arrays
            .U32(5).U64(2).I32(1).I32(-1)           //   [1, -1] (i32)
            .U32(8).U64(1).Str("é");                //   ["é"]
        expected.TensorInfo("t0", [3], 0, 0)        // F32, 12 bytes at 0
            .TensorInfo("t1", [32, 1], 8, 64)       // Q8_0, 34 bytes at 64
            .PadTo(64)
            .F32(1).F32(2).F32(3).Zeros(64 - 12)
            .Raw(Enumerable.Range(0, 34).Select(i => (byte)i).ToArray()).Zeros(64 - 34);

        var w = new GgufWriter(alignment: 64);
        w.Add("general.architecture", "llama");
        w.Add("arr", new GgufValue(GgufValueType.Array, new[]
        {
            new GgufValue(GgufValueType.Array, new[] { 1, -1 }, GgufValueType.Int32),
            new GgufValue(GgufValueType.Array, new[] { "é" }, GgufValueType.String),
        }, GgufValueType.Array));
        w.AddTensor("t0", [3], [1f, 2f, 3f]);
        w.AddTensor("t1", GgmlType.Q8_0, [32, 1], Enumerable.Range(0, 34).Select(i => (byte)i).ToArray());

        Assert.Equal(expected.ToArray(), Write(w));
    }

    [Fact]
    public void Writer_OutputDoesNotDependOnStreamPositionOrSeekability()
    {
        var w = new GgufWriter(alignment: 64);
        w.Add("k", "v");
        w.AddTensor("t", [3], [1f, 2f, 3f]);
        var reference = Write(w);

        // A stream already holding 5 bytes: the GGUF that follows them must be the same bytes.
        var offsetStream = new MemoryStream();
        offsetStream.Write([1, 2, 3, 4, 5]);
        w.WriteTo(offsetStream);
        Assert.Equal(reference, offsetStream.ToArray().AsSpan(5).ToArray());

        var forwardOnly = new ForwardOnlyStream();
        w.WriteTo(forwardOnly);
        Assert.Equal(reference, forwardOnly.Inner.ToArray());
    }

    [Fact]
    public void Writer_ExplicitAlignmentKey_MustMatchTheLayout()
    {
        // A key that disagrees with the layout would produce a file the reader refuses (or misreads).
        Assert.Throws<ArgumentException>(() => new GgufWriter().Add("general.alignment", 64u));
        Assert.Throws<ArgumentException>(() => new GgufWriter(64).Add("general.alignment", 32u));
        Assert.Throws<ArgumentException>(() => new GgufWriter(64).Add("general.alignment", 64));   // i32, not u32
        Assert.Throws<ArgumentOutOfRangeException>(() => new GgufWriter(1 << 21)); // beyond what the reader accepts
        Assert.Throws<ArgumentOutOfRangeException>(() => new GgufWriter(48));

        // Adding the matching key explicitly places it where it is added (so read → write round trips keep key order).
        var w = new GgufWriter(64);
        w.Add("general.architecture", "llama");
        w.Add("general.alignment", 64u);
        using var f = GgufFile.FromBytes(Write(w));
        Assert.Equal(["general.architecture", "general.alignment"], f.Metadata.Keys.ToArray());
        Assert.Equal(64, f.Alignment);

        // And the default alignment may be stated explicitly.
        var w32 = new GgufWriter();
        w32.Add("general.alignment", 32u);
        using var f32 = GgufFile.FromBytes(Write(w32));
        Assert.Equal(32u, f32.Metadata["general.alignment"].Value);
        Assert.Equal(Write(w32), Rewrite(f32));
    }

    [Fact]
    public void GgufValue_RejectsMalformedArrays()
    {
        Assert.Throws<ArgumentException>(() => new GgufValue(GgufValueType.Array, new[] { 1 }, GgufValueType.UInt32));
        Assert.Throws<ArgumentException>(() => new GgufValue(GgufValueType.UInt32, 1));
        // An array of arrays whose items are not arrays, or null, cannot be written.
        Assert.Throws<ArgumentException>(() => new GgufValue(GgufValueType.Array, new[] { new GgufValue(GgufValueType.UInt32, 1u) }, GgufValueType.Array));
        Assert.Throws<ArgumentException>(() => new GgufValue(GgufValueType.Array, new GgufValue[] { null! }, GgufValueType.Array));
        Assert.Throws<ArgumentException>(() => new GgufValue(GgufValueType.Array, new string[] { "a", null! }, GgufValueType.String));
    }

    [Fact]
    public void Writer_RefusesNestingTheReaderWouldRefuse()
    {
        static GgufValue Nest(int levels)
        {
            var v = new GgufValue(GgufValueType.Array, new[] { 1 }, GgufValueType.Int32);
            for (int i = 1; i < levels; i++) v = new GgufValue(GgufValueType.Array, new[] { v }, GgufValueType.Array);
            return v;
        }
        var w = new GgufWriter();
        w.Add("ok", Nest(GgufFile.MaxArrayNesting));
        Assert.Throws<ArgumentException>(() => w.Add("deep", Nest(GgufFile.MaxArrayNesting + 1)));
        using var f = GgufFile.FromBytes(Write(w));
        AssertSameValue(Nest(GgufFile.MaxArrayNesting), f.Metadata["ok"], "ok");
    }

    [Fact]
    public void Stories260K_RewritesToIdenticalBytes()
    {
        var original = File.ReadAllBytes(TestData.Stories260K);
        using var f = GgufFile.Open(TestData.Stories260K);
        Assert.Equal(original, Rewrite(f));
    }

    private sealed class ForwardOnlyStream : Stream
    {
        public MemoryStream Inner { get; } = new();
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => Inner.Write(buffer, offset, count);
    }
}
