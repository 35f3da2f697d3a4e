using System.Text;

namespace CompactAI.Tests.Gguf;

/// <summary>
/// A raw little-endian byte builder for hand-made (often malformed) GGUF images. It deliberately does not use
/// <see cref="CompactAI.Gguf.GgufWriter"/>, so tests built with it check the reader and writer against the format
/// as FACTS.md describes it, not against each other.
/// </summary>
internal sealed class GgufBytes
{
    private readonly MemoryStream _s = new();
    private readonly BinaryWriter _w;

    public GgufBytes() => _w = new BinaryWriter(_s, Encoding.UTF8, leaveOpen: true);

    public long Position { get { _w.Flush(); return _s.Position; } }

    public GgufBytes U8(byte v) { _w.Write(v); return this; }
    public GgufBytes U16(ushort v) { _w.Write(v); return this; }
    public GgufBytes U32(uint v) { _w.Write(v); return this; }
    public GgufBytes I32(int v) { _w.Write(v); return this; }
    public GgufBytes U64(ulong v) { _w.Write(v); return this; }
    public GgufBytes F32(float v) { _w.Write(v); return this; }
    public GgufBytes Raw(ReadOnlySpan<byte> bytes) { _w.Write(bytes); return this; }
    public GgufBytes Zeros(long n) { for (long i = 0; i < n; i++) _w.Write((byte)0); return this; }

    /// <summary>u64 byte length + UTF-8 bytes, no terminator.</summary>
    public GgufBytes Str(string s)
    {
        var b = Encoding.UTF8.GetBytes(s);
        return U64((ulong)b.Length).Raw(b);
    }

    /// <summary>"GGUF", u32 version, u64 tensor count, u64 KV count (24 bytes).</summary>
    public GgufBytes Header(ulong tensorCount, ulong kvCount, uint version = 3) =>
        Raw("GGUF"u8).U32(version).U64(tensorCount).U64(kvCount);

    /// <summary>A key, then a value type id (the value itself is written by the caller).</summary>
    public GgufBytes Key(string key, uint type) => Str(key).U32(type);

    public GgufBytes KvU32(string key, uint v) => Key(key, 4).U32(v);
    public GgufBytes KvString(string key, string v) => Key(key, 8).Str(v);

    /// <summary>Tensor info: name, u32 n_dims, u64 ne[n_dims], u32 type, u64 offset.</summary>
    public GgufBytes TensorInfo(string name, ulong[] dims, uint type, ulong offset)
    {
        Str(name).U32((uint)dims.Length);
        foreach (var d in dims) U64(d);
        return U32(type).U64(offset);
    }

    /// <summary>Zero padding up to the next multiple of <paramref name="alignment"/>.</summary>
    public GgufBytes PadTo(int alignment)
    {
        long p = Position;
        return Zeros((p + alignment - 1) / alignment * alignment - p);
    }

    public byte[] ToArray() { _w.Flush(); return _s.ToArray(); }
}
