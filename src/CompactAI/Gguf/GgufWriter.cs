using System.Runtime.InteropServices;
using System.Text;
using CompactAI.Tensors;

namespace CompactAI.Gguf;

/// <summary>
/// Writes GGUF files (version 3 by default): metadata in insertion order, tensor infos, then the aligned data section.
/// Used by tests, the synthetic-model generator and the quantizer.
/// </summary>
/// <example>
/// <code>
/// var w = new GgufWriter();
/// w.Add("general.architecture", "llama");
/// w.AddTensor("token_embd.weight", GgmlType.F32, [64, 512], embeddingBytes);
/// w.WriteTo("model.gguf");
/// </code>
/// </example>
public sealed class GgufWriter
{
    private readonly List<KeyValuePair<string, GgufValue>> _metadata = new();
    private readonly HashSet<string> _keys = new(StringComparer.Ordinal);
    private readonly List<(string Name, GgmlType Type, long[] Dims, ReadOnlyMemory<byte> Data)> _tensors = new();
    private readonly HashSet<string> _tensorNames = new(StringComparer.Ordinal);
    private bool _alignmentKeyImplicit;

    /// <summary>Creates a writer.</summary>
    /// <param name="alignment">
    /// Data alignment, a power of two up to 2^20 (what the reader accepts); written as <c>general.alignment</c> (first key)
    /// when it is not the default 32, unless the key is later added explicitly, which then places it where it is added.
    /// </param>
    /// <param name="version">GGUF version to write (2 or 3; the layouts are the same).</param>
    public GgufWriter(int alignment = GgufFile.DefaultAlignment, uint version = 3)
    {
        if (alignment <= 0 || (alignment & (alignment - 1)) != 0 || alignment > GgufFile.MaxAlignment)
            throw new ArgumentOutOfRangeException(nameof(alignment), alignment, $"The alignment must be a power of two in [1, {GgufFile.MaxAlignment}].");
        if (version is not (2 or 3)) throw new ArgumentOutOfRangeException(nameof(version), version, "Only versions 2 and 3 can be written.");
        Alignment = alignment;
        Version = version;
        if (alignment != GgufFile.DefaultAlignment)
        {
            Add(GgufFile.AlignmentKey, new GgufValue(GgufValueType.UInt32, (uint)alignment));
            _alignmentKeyImplicit = true;
        }
    }

    /// <summary>The data alignment.</summary>
    public int Alignment { get; }

    /// <summary>The GGUF version written.</summary>
    public uint Version { get; }

    /// <summary>Adds a metadata value of any type.</summary>
    /// <exception cref="ArgumentException">
    /// The key was already added, arrays are nested deeper than <see cref="GgufFile.MaxArrayNesting"/>, or the key is <c>general.alignment</c> with a value other than this writer's <see cref="Alignment"/> as a u32.
    /// </exception>
    public GgufWriter Add(string key, GgufValue value)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        if (key == GgufFile.AlignmentKey)
        {
            // The data is laid out with Alignment; a key saying otherwise would make the file unreadable.
            if (value.Value is not uint align || align != (uint)Alignment)
                throw new ArgumentException($"'{GgufFile.AlignmentKey}' must be the u32 {Alignment} (this writer's alignment), not {value.Type} {value}.", nameof(value));
            if (_alignmentKeyImplicit)
            {
                _alignmentKeyImplicit = false;
                _keys.Remove(key);
                _metadata.RemoveAll(kv => kv.Key == key);
            }
        }
        if (ArrayDepth(value) > GgufFile.MaxArrayNesting)
            throw new ArgumentException($"Arrays nested deeper than {GgufFile.MaxArrayNesting} levels cannot be read back.", nameof(value));
        if (!_keys.Add(key)) throw new ArgumentException($"Metadata key '{key}' was already added.", nameof(key));
        _metadata.Add(new(key, value));
        return this;
    }

    /// <summary>Adds a string.</summary>
    public GgufWriter Add(string key, string value) => Add(key, new GgufValue(GgufValueType.String, value));
    /// <summary>Adds a u32.</summary>
    public GgufWriter Add(string key, uint value) => Add(key, new GgufValue(GgufValueType.UInt32, value));
    /// <summary>Adds an i32.</summary>
    public GgufWriter Add(string key, int value) => Add(key, new GgufValue(GgufValueType.Int32, value));
    /// <summary>Adds a u64.</summary>
    public GgufWriter Add(string key, ulong value) => Add(key, new GgufValue(GgufValueType.UInt64, value));
    /// <summary>Adds an f32.</summary>
    public GgufWriter Add(string key, float value) => Add(key, new GgufValue(GgufValueType.Float32, value));
    /// <summary>Adds a bool.</summary>
    public GgufWriter Add(string key, bool value) => Add(key, new GgufValue(GgufValueType.Bool, value));
    /// <summary>Adds an array of strings.</summary>
    public GgufWriter Add(string key, string[] values) => Add(key, new GgufValue(GgufValueType.Array, values, GgufValueType.String));
    /// <summary>Adds an array of f32.</summary>
    public GgufWriter Add(string key, float[] values) => Add(key, new GgufValue(GgufValueType.Array, values, GgufValueType.Float32));
    /// <summary>Adds an array of i32.</summary>
    public GgufWriter Add(string key, int[] values) => Add(key, new GgufValue(GgufValueType.Array, values, GgufValueType.Int32));

    /// <summary>Adds a tensor whose data is already in <paramref name="type"/>'s layout (the memory is kept, not copied).</summary>
    /// <param name="name">Tensor name.</param>
    /// <param name="type">Element/block format.</param>
    /// <param name="dimensions">Shape, contiguous dimension first (GGUF's <c>ne</c>).</param>
    /// <param name="data">Exactly the tensor's bytes.</param>
    public GgufWriter AddTensor(string name, GgmlType type, long[] dimensions, ReadOnlyMemory<byte> data)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(dimensions);
        if (dimensions.Length is 0 or > 4) throw new ArgumentException("A tensor has 1 to 4 dimensions.", nameof(dimensions));
        long elements = 1;
        foreach (var d in dimensions)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(d, nameof(dimensions));
            elements = checked(elements * d);
        }
        long rows = dimensions[0] == 0 ? 0 : elements / dimensions[0];
        long expected = checked(GgmlTypeInfo.RowBytes(type, dimensions[0]) * rows);
        if (data.Length != expected) throw new ArgumentException($"Tensor '{name}' ({type} [{string.Join(", ", dimensions)}]) needs {expected} bytes, got {data.Length}.", nameof(data));
        if (!_tensorNames.Add(name)) throw new ArgumentException($"Tensor '{name}' was already added.", nameof(name));
        _tensors.Add((name, type, (long[])dimensions.Clone(), data));
        return this;
    }

    /// <summary>Adds an F32 tensor from floats (copied).</summary>
    public GgufWriter AddTensor(string name, long[] dimensions, ReadOnlySpan<float> values) =>
        AddTensor(name, GgmlType.F32, dimensions, MemoryMarshal.AsBytes(values).ToArray());

    /// <summary>Writes the file to <paramref name="path"/>.</summary>
    public void WriteTo(string path)
    {
        using var fs = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16);
        WriteTo(fs);
    }

    /// <summary>Writes the file to <paramref name="stream"/>.</summary>
    /// <remarks>The stream need not be seekable; the file starts at the stream's current position.</remarks>
    public void WriteTo(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        // The header is assembled in memory so that its length (which fixes where the data section starts) does not
        // depend on the stream's position or on the stream being seekable.
        var header = new MemoryStream();
        using var w = new BinaryWriter(header, Encoding.UTF8, leaveOpen: true);
        w.Write(GgufFile.Magic);
        w.Write(Version);
        w.Write((ulong)_tensors.Count);
        w.Write((ulong)_metadata.Count);
        foreach (var (key, value) in _metadata)
        {
            WriteString(w, key);
            w.Write((uint)value.Type);
            WriteValue(w, value);
        }

        long offset = 0;
        var offsets = new long[_tensors.Count];
        for (int i = 0; i < _tensors.Count; i++)
        {
            var t = _tensors[i];
            WriteString(w, t.Name);
            w.Write((uint)t.Dims.Length);
            foreach (var d in t.Dims) w.Write((ulong)d);
            w.Write((uint)t.Type);
            w.Write((ulong)offset);
            offsets[i] = offset;
            offset = GgufFile.AlignUp(offset + t.Data.Length, Alignment);
        }
        w.Flush();
        long headerEnd = header.Length;
        Pad(header, GgufFile.AlignUp(headerEnd, Alignment) - headerEnd);
        header.WriteTo(stream);
        long written = 0;
        for (int i = 0; i < _tensors.Count; i++)
        {
            Pad(stream, offsets[i] - written);
            stream.Write(_tensors[i].Data.Span);
            written = offsets[i] + _tensors[i].Data.Length;
        }
        Pad(stream, GgufFile.AlignUp(written, Alignment) - written);
        stream.Flush();
    }

    private static int ArrayDepth(GgufValue v)
    {
        if (v.Type != GgufValueType.Array) return 0;
        int inner = 0;
        if (v.Value is GgufValue[] items)
            foreach (var item in items) inner = Math.Max(inner, ArrayDepth(item));
        return 1 + inner;
    }

    private static void Pad(Stream s, long n)
    {
        Span<byte> zeros = stackalloc byte[256];
        zeros.Clear();
        for (; n > 0; n -= zeros.Length) s.Write(zeros[..(int)Math.Min(n, zeros.Length)]);
    }

    private static void WriteString(BinaryWriter w, string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        w.Write((ulong)bytes.Length);
        w.Write(bytes);
    }

    private static void WriteValue(BinaryWriter w, GgufValue v)
    {
        if (v.Type == GgufValueType.Array) WriteArray(w, v);
        else WriteScalar(w, v.Value);
    }

    private static void WriteArray(BinaryWriter w, GgufValue v)
    {
        var array = (Array)v.Value;
        w.Write((uint)v.ElementType);
        w.Write((ulong)array.Length);
        if (v.Value is GgufValue[] nested)
        {
            foreach (var inner in nested) WriteArray(w, inner);
            return;
        }
        foreach (var item in array) WriteScalar(w, item!);
    }

    private static void WriteScalar(BinaryWriter w, object value)
    {
        switch (value)
        {
            case byte x: w.Write(x); break;
            case sbyte x: w.Write(x); break;
            case ushort x: w.Write(x); break;
            case short x: w.Write(x); break;
            case uint x: w.Write(x); break;
            case int x: w.Write(x); break;
            case float x: w.Write(x); break;
            case bool x: w.Write((byte)(x ? 1 : 0)); break;
            case string x: WriteString(w, x); break;
            case ulong x: w.Write(x); break;
            case long x: w.Write(x); break;
            case double x: w.Write(x); break;
            default: throw new ArgumentException($"Cannot write a {value.GetType().Name} as a GGUF value.");
        }
    }
}
