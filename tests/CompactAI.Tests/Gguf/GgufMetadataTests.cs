using CompactAI.Gguf;
using static CompactAI.Tests.Gguf.GgufTestHelpers;

namespace CompactAI.Tests.Gguf;

public class GgufMetadataTests
{
    private static GgufValue V(GgufValueType t, object v) => new(t, v);
    private static GgufValue A(GgufValueType elem, object v) => new(GgufValueType.Array, v, elem);

    private static GgufFile Open()
    {
        var w = new GgufWriter();
        w.Add("str", "hello");
        w.Add("u8", V(GgufValueType.UInt8, (byte)200));
        w.Add("i8", V(GgufValueType.Int8, (sbyte)-5));
        w.Add("u16", V(GgufValueType.UInt16, (ushort)60000));
        w.Add("i16", V(GgufValueType.Int16, (short)-300));
        w.Add("u32", 4_000_000_000u);
        w.Add("i32", -7);
        w.Add("i32.pos", 12);
        w.Add("u64.small", 42ul);
        w.Add("u64.big", ulong.MaxValue);
        w.Add("i64.small", V(GgufValueType.Int64, -2L));
        w.Add("i64.pos", V(GgufValueType.Int64, 3_000_000_000L));
        w.Add("f32", 0.25f);
        w.Add("f64", V(GgufValueType.Float64, 1e-6));
        w.Add("bool", true);
        w.Add("arr.u32", A(GgufValueType.UInt32, new uint[] { 1, 2, 3 }));
        w.Add("arr.u32.big", A(GgufValueType.UInt32, new uint[] { 1, 3_000_000_000 }));
        w.Add("arr.i16", A(GgufValueType.Int16, new short[] { -1, 2, short.MaxValue }));
        w.Add("arr.u8", A(GgufValueType.UInt8, new byte[] { 0, 255 }));
        w.Add("arr.u64.big", A(GgufValueType.UInt64, new[] { 1ul, ulong.MaxValue }));
        w.Add("arr.i32", new[] { -1, 5 });
        w.Add("arr.f32", new[] { 1.5f });
        w.Add("arr.str", new[] { "a", "b" });
        w.Add("arr.str.empty", Array.Empty<string>());
        w.Add("arr.bool", A(GgufValueType.Bool, new[] { true }));
        w.Add("arr.nested", A(GgufValueType.Array, new[] { A(GgufValueType.Int32, new[] { 1 }) }));
        return GgufFile.FromBytes(Write(w));
    }

    private static void AssertNames(GgufFormatException ex, string key)
    {
        Assert.Equal(key, ex.Field);
        Assert.Contains($"'{key}'", ex.Message);
    }

    [Fact]
    public void KeysInFileOrder_AndDictionaryView()
    {
        using var f = Open();
        var m = f.Metadata;
        Assert.Equal(26, m.Count);
        Assert.Equal("str", m.Keys.First());
        Assert.Equal("arr.nested", m.Keys.Last());
        Assert.Equal(m.Keys, m.Select(kv => kv.Key));
        Assert.Equal(m.Values, m.Select(kv => kv.Value));
        Assert.True(m.ContainsKey("u8"));
        Assert.False(m.ContainsKey("U8"));                 // keys are case-sensitive
        Assert.True(m.TryGetValue("f32", out var v) && v.Type == GgufValueType.Float32);
        Assert.False(m.TryGetValue("nope", out _));
        Assert.Equal("hello", m["str"].ToString());
        Assert.Equal("[1, 2, 3]", m["arr.u32"].ToString());
        Assert.Equal(3, m["arr.u32"].Count);
        Assert.Equal(1, m["u32"].Count);
        Assert.True(m["i16"].IsInteger);
        Assert.False(m["f32"].IsInteger);
    }

    [Fact]
    public void TypedGetters_WithDefaults()
    {
        using var f = Open();
        var m = f.Metadata;
        Assert.Equal("hello", m.GetString("str"));
        Assert.Equal("hello", m.GetString("str", "dflt"));
        Assert.Equal("dflt", m.GetString("missing", "dflt"));
        Assert.Null(m.GetString("missing", null));
        Assert.True(m.GetBool("bool", false));
        Assert.True(m.GetBool("missing", true));
        Assert.Equal(12, m.GetInt32("i32.pos", 99));
        Assert.Equal(99, m.GetInt32("missing", 99));
        Assert.Equal(5u, m.GetUInt32("missing", 5u));
        Assert.Equal(0.25f, m.GetFloat32("f32", 9f));
        Assert.Equal(9f, m.GetFloat32("missing", 9f));
        Assert.Null(m.GetArrayOrNull<int>("missing"));
        Assert.Equal(["a", "b"], m.GetArrayOrNull<string>("arr.str")!);

        // A default covers a missing key, never a key of the wrong type.
        AssertNames(Assert.Throws<GgufFormatException>(() => m.GetString("u32", "dflt")), "u32");
        AssertNames(Assert.Throws<GgufFormatException>(() => m.GetBool("str", false)), "str");
        AssertNames(Assert.Throws<GgufFormatException>(() => m.GetInt32("str", 1)), "str");
        AssertNames(Assert.Throws<GgufFormatException>(() => m.GetFloat32("str", 1f)), "str");
    }

    [Fact]
    public void IntegerWidthCoercion()
    {
        using var f = Open();
        var m = f.Metadata;
        Assert.Equal(200u, m.GetUInt32("u8"));
        Assert.Equal(200, m.GetInt32("u8"));
        Assert.Equal(-5, m.GetInt32("i8"));
        Assert.Equal(60000u, m.GetUInt32("u16"));
        Assert.Equal(-300, m.GetInt32("i16"));
        Assert.Equal(4_000_000_000u, m.GetUInt32("u32"));
        Assert.Equal(12u, m.GetUInt32("i32.pos"));
        Assert.Equal(42u, m.GetUInt32("u64.small"));
        Assert.Equal(42, m.GetInt32("u64.small"));
        Assert.Equal(-2, m.GetInt32("i64.small"));
        Assert.Equal(3_000_000_000u, m.GetUInt32("i64.pos"));
        Assert.Equal(ulong.MaxValue, m.GetUInt64("u64.big"));
        Assert.Equal(200ul, m.GetUInt64("u8"));
        Assert.Equal(12ul, m.GetUInt64("i32.pos"));
        // Numbers of any kind as f32.
        Assert.Equal(1e-6f, m.GetFloat32("f64"));
        Assert.Equal(-7f, m.GetFloat32("i32"));
        Assert.Equal(4e9f, m.GetFloat32("u32"));
    }

    [Theory]
    [InlineData("u32", "int")]         // 4e9 > int.MaxValue
    [InlineData("i32", "uint")]        // negative
    [InlineData("i8", "uint")]
    [InlineData("u64.big", "uint")]
    [InlineData("u64.big", "int")]
    [InlineData("i64.pos", "int")]
    [InlineData("i64.small", "ulong")]
    public void IntegerOutOfRange_NamesTheKey(string key, string target)
    {
        using var f = Open();
        var m = f.Metadata;
        Action get = target switch
        {
            "int" => () => m.GetInt32(key),
            "uint" => () => m.GetUInt32(key),
            _ => () => m.GetUInt64(key),
        };
        var ex = Assert.Throws<GgufFormatException>(get);
        AssertNames(ex, key);
        Assert.Equal(-1, ex.Offset);
    }

    [Theory]
    [InlineData("str")]
    [InlineData("f32")]
    [InlineData("f64")]
    [InlineData("bool")]
    [InlineData("arr.u32")]
    public void WrongTypeForInteger_NamesTheKeyAndTheType(string key)
    {
        using var f = Open();
        var ex = Assert.Throws<GgufFormatException>(() => f.Metadata.GetUInt32(key));
        AssertNames(ex, key);
        Assert.Contains("integer", ex.Message);
        Assert.Throws<GgufFormatException>(() => f.Metadata.GetInt32(key));
        Assert.Throws<GgufFormatException>(() => f.Metadata.GetUInt64(key));
    }

    [Fact]
    public void WrongTypeForOthers_NamesTheKey()
    {
        using var f = Open();
        var m = f.Metadata;
        var ex = Assert.Throws<GgufFormatException>(() => m.GetString("u32"));
        AssertNames(ex, "u32");
        Assert.Contains("UInt32", ex.Message);
        AssertNames(Assert.Throws<GgufFormatException>(() => m.GetString("arr.str")), "arr.str");
        AssertNames(Assert.Throws<GgufFormatException>(() => m.GetFloat32("arr.f32")), "arr.f32");
        AssertNames(Assert.Throws<GgufFormatException>(() => m.GetFloat32("bool")), "bool");
        AssertNames(Assert.Throws<GgufFormatException>(() => m.GetArray<int>("i32")), "i32");
        AssertNames(Assert.Throws<GgufFormatException>(() => m.GetArray<string>("arr.i32")), "arr.i32");
        AssertNames(Assert.Throws<GgufFormatException>(() => m.GetArray<float>("arr.i32")), "arr.i32");
        AssertNames(Assert.Throws<GgufFormatException>(() => m.GetArray<double>("arr.f32")), "arr.f32");
        AssertNames(Assert.Throws<GgufFormatException>(() => m.GetArray<int>("arr.f32")), "arr.f32");
        AssertNames(Assert.Throws<GgufFormatException>(() => m.GetArray<int>("arr.bool")), "arr.bool");
        AssertNames(Assert.Throws<GgufFormatException>(() => m.GetArray<int>("arr.nested")), "arr.nested");
        // An empty array of strings is still not an array of integers.
        AssertNames(Assert.Throws<GgufFormatException>(() => m.GetArray<int>("arr.str.empty")), "arr.str.empty");
    }

    [Fact]
    public void MissingKey_NamesTheKey()
    {
        using var f = Open();
        var m = f.Metadata;
        foreach (var get in new Func<object>[]
        {
            () => m["llama.block_count"], () => m.GetString("llama.block_count"), () => m.GetUInt32("llama.block_count"),
            () => m.GetInt32("llama.block_count"), () => m.GetUInt64("llama.block_count"), () => m.GetFloat32("llama.block_count"),
            () => m.GetArray<int>("llama.block_count"),
        })
        {
            var ex = Assert.Throws<GgufFormatException>(get);
            AssertNames(ex, "llama.block_count");
            Assert.Contains("missing", ex.Message);
        }
    }

    [Fact]
    public void GetArray_ConvertsIntegerWidths()
    {
        using var f = Open();
        var m = f.Metadata;
        Assert.Equal([1, 2, 3], m.GetArray<int>("arr.u32"));
        Assert.Equal([1u, 2u, 3u], m.GetArray<uint>("arr.u32"));
        Assert.Same(m["arr.u32"].Value, m.GetArray<uint>("arr.u32"));   // exact type: no copy
        Assert.Equal([1L, 2L, 3L], m.GetArray<long>("arr.u32"));
        Assert.Equal([-1, 2, short.MaxValue], m.GetArray<int>("arr.i16"));
        Assert.Equal([-1L, 2L, short.MaxValue], m.GetArray<long>("arr.i16"));
        Assert.Equal([0, 255], m.GetArray<int>("arr.u8"));
        Assert.Equal([-1, 5], m.GetArray<int>("arr.i32"));
        Assert.Equal([1.5f], m.GetArray<float>("arr.f32"));
        Assert.Empty(m.GetArray<string>("arr.str.empty"));
        var nested = m.GetArray<GgufValue>("arr.nested");
        Assert.Equal([1], (int[])Assert.Single(nested).Value);

        // Values that do not fit the requested type are refused, naming the key and the element.
        var ex = Assert.Throws<GgufFormatException>(() => m.GetArray<int>("arr.u32.big"));
        AssertNames(ex, "arr.u32.big");
        Assert.Contains("element 1", ex.Message);
        AssertNames(Assert.Throws<GgufFormatException>(() => m.GetArray<uint>("arr.i16")), "arr.i16");   // -1
        AssertNames(Assert.Throws<GgufFormatException>(() => m.GetArray<uint>("arr.i32")), "arr.i32");
        AssertNames(Assert.Throws<GgufFormatException>(() => m.GetArray<long>("arr.u64.big")), "arr.u64.big");
        Assert.Equal([1L], m.GetArray<long>("arr.u32.big")[..1]);
    }
}
