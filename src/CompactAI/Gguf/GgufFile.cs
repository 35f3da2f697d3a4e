using System.Buffers;
using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Unicode;
using CompactAI.Tensors;

namespace CompactAI.Gguf;

/// <summary>
/// A parsed, validated GGUF file (versions 2 and 3). Metadata and tensor infos are read eagerly; tensor data stays
/// in the memory-mapped file and is exposed as views, so opening a model does not copy its weights.
/// </summary>
/// <remarks>
/// Every count, length, dimension and offset is checked against the file size before it is used: a malformed file
/// is refused with a <see cref="GgufFormatException"/> naming the field and byte offset, and parsing never allocates
/// more than a small multiple of the file size. Instances are thread-safe for reading; dispose to unmap the file.
/// </remarks>
public sealed unsafe partial class GgufFile : IDisposable
{
    /// <summary>The GGUF magic, "GGUF" read as a little-endian u32.</summary>
    public const uint Magic = 0x46554747;

    /// <summary>The default data alignment when <c>general.alignment</c> is absent.</summary>
    public const int DefaultAlignment = 32;

    /// <summary>The largest <c>general.alignment</c> accepted (2^20).</summary>
    public const int MaxAlignment = 1 << 20;

    /// <summary>The metadata key holding the data alignment.</summary>
    public const string AlignmentKey = "general.alignment";

    private const int MaxDimensions = 4;
    /// <summary>The deepest nesting of arrays accepted (an array of arrays is 2 levels).</summary>
    public const int MaxArrayNesting = 16;

    private readonly MemoryMappedFile? _mapping;
    private readonly MemoryMappedViewAccessor? _view;
    private GCHandle _pin;
    private byte* _base;
    private readonly Dictionary<string, GgufTensorInfo> _tensorsByName;

    private GgufFile(string? path, byte* basePtr, long length, MemoryMappedFile? mapping, MemoryMappedViewAccessor? view, GCHandle pin)
    {
        FilePath = path;
        _base = basePtr;
        Length = length;
        _mapping = mapping;
        _view = view;
        _pin = pin;
        Metadata = new GgufMetadata(path);
        _tensorsByName = new Dictionary<string, GgufTensorInfo>(StringComparer.Ordinal);
        try
        {
            var tensors = new List<GgufTensorInfo>();
            Parse(tensors);
            Tensors = tensors;
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>The path the file was opened from, or null for an in-memory file.</summary>
    public string? FilePath { get; }

    /// <summary>The file's length in bytes.</summary>
    public long Length { get; }

    /// <summary>The GGUF version (2 or 3).</summary>
    public uint Version { get; private set; }

    /// <summary>The data alignment (<c>general.alignment</c>, default 32).</summary>
    public int Alignment { get; private set; } = DefaultAlignment;

    /// <summary>Absolute offset of the tensor data section.</summary>
    public long DataOffset { get; private set; }

    /// <summary>The key/value metadata.</summary>
    public GgufMetadata Metadata { get; }

    /// <summary>The tensor infos, in file order.</summary>
    public IReadOnlyList<GgufTensorInfo> Tensors { get; private set; } = Array.Empty<GgufTensorInfo>();

    /// <summary>Opens and validates a GGUF file, memory-mapping it read-only.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="GgufFormatException">The file is not a valid GGUF file.</exception>
    public static GgufFile Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var fullPath = System.IO.Path.GetFullPath(path);
        if (!File.Exists(fullPath)) throw new FileNotFoundException($"Model file '{fullPath}' does not exist.", fullPath);
        var stream = new FileStream(fullPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.None);
        long length = stream.Length;
        if (length == 0)
        {
            stream.Dispose();
            throw new GgufFormatException("the file is empty", "magic", 0, fullPath);
        }
        MemoryMappedFile? mapping = null;
        MemoryMappedViewAccessor? view = null;
        try
        {
            mapping = MemoryMappedFile.CreateFromFile(stream, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
            view = mapping.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            byte* ptr = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref ptr);
            ptr += view.PointerOffset;
            return new GgufFile(fullPath, ptr, length, mapping, view, default);
        }
        catch
        {
            if (view is null) mapping?.Dispose();
            if (mapping is null) stream.Dispose();
            throw;
        }
    }

    /// <summary>Parses and validates a GGUF image held in memory (the array is pinned, not copied, until disposal).</summary>
    /// <exception cref="GgufFormatException">The bytes are not a valid GGUF file.</exception>
    public static GgufFile FromBytes(byte[] bytes)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        if (bytes.Length == 0) throw new GgufFormatException("the data is empty", "magic", 0);
        var pin = GCHandle.Alloc(bytes, GCHandleType.Pinned);
        return new GgufFile(null, (byte*)pin.AddrOfPinnedObject(), bytes.Length, null, null, pin);
    }

    /// <summary>The tensor named <paramref name="name"/>, or null.</summary>
    public GgufTensorInfo? FindTensor(string name) => _tensorsByName.GetValueOrDefault(name);

    /// <summary>The tensor named <paramref name="name"/>.</summary>
    /// <exception cref="GgufFormatException">No such tensor.</exception>
    public GgufTensorInfo GetTensor(string name) =>
        FindTensor(name) ?? throw new GgufFormatException($"required tensor '{name}' is missing ({Tensors.Count} tensors present)", name, -1, FilePath);

    /// <summary>A read-only view of a tensor's bytes (valid until the file is disposed).</summary>
    /// <exception cref="NotSupportedException">The tensor is larger than 2 GiB (use the engine's typed views).</exception>
    public ReadOnlySpan<byte> GetTensorBytes(GgufTensorInfo tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        if (tensor.ByteCount > int.MaxValue) throw new NotSupportedException($"Tensor '{tensor.Name}' is {tensor.ByteCount} bytes, too large for a span.");
        return new ReadOnlySpan<byte>(GetTensorPointer(tensor), (int)tensor.ByteCount);
    }

    /// <summary>Pointer to a tensor's first byte (valid until the file is disposed).</summary>
    internal byte* GetTensorPointer(GgufTensorInfo tensor)
    {
        ObjectDisposedException.ThrowIf(_base == null, this);
        return _base + tensor.FileOffset;
    }

    /// <summary>
    /// Tells the OS that this process no longer needs the mapped pages of [<paramref name="start"/>, +<paramref name="length"/>)
    /// (Linux: <c>madvise</c> with <c>MADV_DONTNEED</c>, on the whole pages inside the range): they leave the process's
    /// resident set, and a later read maps them again from the file. Used after a tensor was copied into another layout, so
    /// the copy does not count twice. A no-op elsewhere, for in-memory files, and for ranges outside the mapping.
    /// </summary>
    internal void ReleasePages(byte* start, long length)
    {
        if (_mapping is null || !OperatingSystem.IsLinux() || _base == null) return;
        if (start < _base || length < 0 || start + length > _base + Length) return;
        long page = Environment.SystemPageSize;
        long first = ((long)start + page - 1) / page * page, last = ((long)start + length) / page * page;
        if (last > first) _ = madvise((nint)first, (nuint)(last - first), MadvDontNeed);
    }

    private const int MadvDontNeed = 4;

    [LibraryImport("libc", SetLastError = false)]
    private static partial int madvise(nint address, nuint length, int advice);

    /// <summary>Unmaps the file. Views handed out before become invalid.</summary>
    public void Dispose()
    {
        if (_view is not null && _base != null)
        {
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
        }
        _base = null;
        _view?.Dispose();
        _mapping?.Dispose();
        if (_pin.IsAllocated) _pin.Free();
    }

    // ---------------------------------------------------------------- parsing

    private void Parse(List<GgufTensorInfo> tensors)
    {
        var r = new Reader(_base, Length, FilePath);
        uint magic = r.U32("magic");
        if (magic != Magic)
            throw new GgufFormatException($"bad magic 0x{magic:X8} (expected 'GGUF'); this is not a GGUF file", "magic", 0, FilePath);
        long versionAt = r.Position;
        Version = r.U32("version");
        if (Version == 1) throw new GgufFormatException("GGUF version 1 is not supported (re-convert the model with a current llama.cpp)", "version", versionAt, FilePath);
        if (Version is not (2 or 3))
        {
            string hint = Version > 0x00FFFFFF ? " (a big-endian file?)" : "";
            throw new GgufFormatException($"unsupported version {Version}{hint}; versions 2 and 3 are supported", "version", versionAt, FilePath);
        }

        long tensorCountAt = r.Position;
        ulong tensorCount = r.U64("tensor_count");
        long kvCountAt = r.Position;
        ulong kvCount = r.U64("kv_count");
        // Each KV needs at least 8 (key length) + 4 (type) + 1 bytes; each tensor info at least 8 + 4 + 4 + 8.
        if (kvCount > (ulong)r.Remaining / 13)
            throw new GgufFormatException($"kv_count {kvCount} cannot fit in the {Length}-byte file", "kv_count", kvCountAt, FilePath);
        if (tensorCount > (ulong)r.Remaining / 24)
            throw new GgufFormatException($"tensor_count {tensorCount} cannot fit in the {Length}-byte file", "tensor_count", tensorCountAt, FilePath);

        // kv_count was checked against the file size above, so this reserves at most a small multiple of it.
        Metadata.EnsureCapacity((int)Math.Min(kvCount, 1 << 20));
        long alignmentAt = -1;
        for (ulong i = 0; i < kvCount; i++)
        {
            long keyAt = r.Position;
            string key = r.String(new FieldName("metadata", null, (long)i, ".key"), strict: true);
            long typeAt = r.Position;
            var type = (GgufValueType)r.U32(new FieldName(key, ".type"));
            var value = ReadValue(ref r, type, key, typeAt, 0);
            if (!Metadata.TryAdd(key, value))
                throw new GgufFormatException($"duplicate metadata key '{key}'", key, keyAt, FilePath);
            if (key == AlignmentKey) alignmentAt = typeAt;
        }

        if (Metadata.TryGetValue(AlignmentKey, out var alignValue))
        {
            if (alignValue.Value is not uint align)
                throw new GgufFormatException($"{AlignmentKey} must be a u32, found {alignValue.Type}", AlignmentKey, alignmentAt, FilePath);
            if (align == 0 || (align & (align - 1)) != 0 || align > MaxAlignment)
                throw new GgufFormatException($"alignment {align} is not a power of two in [1, 2^20]", AlignmentKey, alignmentAt + 4, FilePath);
            Alignment = (int)align;
        }

        // Re-check against what is left after the metadata: each tensor info takes at least 8 (name length) + 4 (n_dims)
        // + 8 (one dimension) + 4 (type) + 8 (offset) bytes.
        if (tensorCount > (ulong)r.Remaining / 32)
            throw new GgufFormatException($"tensor_count {tensorCount} cannot fit in the {r.Remaining} bytes after the metadata", "tensor_count", tensorCountAt, FilePath);

        var infos = new List<(string Name, long NameAt, long[] Dims, GgmlType Type, ulong Offset, long At, long Elements, long Bytes)>((int)tensorCount);
        for (ulong i = 0; i < tensorCount; i++)
        {
            long at = r.Position;
            string name = r.String(new FieldName("tensor", null, (long)i, ".name"), strict: true);
            long dimsAt = r.Position;
            uint nDims = r.U32(new FieldName(name, ".n_dims"));
            if (nDims == 0 || nDims > MaxDimensions)
                throw new GgufFormatException($"tensor '{name}' has {nDims} dimensions; 1 to {MaxDimensions} are allowed", $"{name}.n_dims", dimsAt, FilePath);
            var dims = new long[nDims];
            long elements = 1;
            for (int d = 0; d < nDims; d++)
            {
                long dimAt = r.Position;
                ulong ne = r.U64(new FieldName(name, ".ne", d));
                if (ne > long.MaxValue)
                    throw new GgufFormatException($"dimension {d} of tensor '{name}' is {ne}, too large", $"{name}.ne[{d}]", dimAt, FilePath);
                dims[d] = (long)ne;
                if (ne != 0 && elements > long.MaxValue / (long)ne)
                    throw new GgufFormatException($"the element count of tensor '{name}' overflows 64 bits", $"{name}.ne[{d}]", dimAt, FilePath);
                elements *= (long)ne;
            }
            long typeAt = r.Position;
            uint typeId = r.U32(new FieldName(name, ".type"));
            var type = (GgmlType)typeId;
            if (!GgmlTypeInfo.TryGetLayout(type, out int blockSize, out int blockBytes))
                throw new GgufFormatException($"tensor '{name}' has unknown type id {typeId}", $"{name}.type", typeAt, FilePath);
            if (dims[0] % blockSize != 0)
                throw new GgufFormatException($"tensor '{name}' row length {dims[0]} is not a multiple of the {type} block size {blockSize}", $"{name}.ne[0]", dimsAt + 4, FilePath);
            long offsetAt = r.Position;
            ulong offset = r.U64(new FieldName(name, ".offset"));
            if (offset % (ulong)Alignment != 0)
                throw new GgufFormatException($"tensor '{name}' data offset {offset} is not a multiple of the alignment {Alignment}", $"{name}.offset", offsetAt, FilePath);
            // elements / blockSize * blockBytes cannot overflow past what we check next because elements <= long.MaxValue and blockBytes <= 292.
            long blocks = elements / blockSize;
            if (blocks > long.MaxValue / blockBytes)
                throw new GgufFormatException($"the byte size of tensor '{name}' overflows 64 bits", $"{name}.ne", dimsAt, FilePath);
            infos.Add((name, at, dims, type, offset, offsetAt, elements, blocks * blockBytes));
        }

        long dataStart = AlignUp(r.Position, Alignment);
        if (tensorCount > 0 && dataStart > Length)
            throw new GgufFormatException($"the data section would start at {dataStart}, past the end of the {Length}-byte file", "data", r.Position, FilePath);
        DataOffset = dataStart;
        long dataLength = Length - Math.Min(dataStart, Length);

        foreach (var t in infos)
        {
            if (t.Offset > (ulong)dataLength || (ulong)t.Bytes > (ulong)dataLength - t.Offset)
                throw new GgufFormatException(
                    $"tensor '{t.Name}' data [{t.Offset}, +{t.Bytes}) lies outside the {dataLength}-byte data section (file truncated?)",
                    $"{t.Name}.offset", t.At, FilePath);
            var info = new GgufTensorInfo(t.Name, t.Dims, t.Type, (long)t.Offset, dataStart + (long)t.Offset, t.Elements, t.Bytes);
            if (!_tensorsByName.TryAdd(t.Name, info))
                throw new GgufFormatException($"duplicate tensor name '{t.Name}'", t.Name, t.NameAt, FilePath);
            tensors.Add(info);
        }
    }

    private GgufValue ReadValue(ref Reader r, GgufValueType type, string key, long typeAt, int depth)
    {
        switch (type)
        {
            case GgufValueType.UInt8: return new GgufValue(type, r.U8(key));
            case GgufValueType.Int8: return new GgufValue(type, (sbyte)r.U8(key));
            case GgufValueType.UInt16: return new GgufValue(type, r.U16(key));
            case GgufValueType.Int16: return new GgufValue(type, (short)r.U16(key));
            case GgufValueType.UInt32: return new GgufValue(type, r.U32(key));
            case GgufValueType.Int32: return new GgufValue(type, (int)r.U32(key));
            case GgufValueType.Float32: return new GgufValue(type, BitConverter.UInt32BitsToSingle(r.U32(key)));
            case GgufValueType.Bool: return new GgufValue(type, r.Bool(key));
            case GgufValueType.String: return new GgufValue(type, r.String(key));
            case GgufValueType.UInt64: return new GgufValue(type, r.U64(key));
            case GgufValueType.Int64: return new GgufValue(type, (long)r.U64(key));
            case GgufValueType.Float64: return new GgufValue(type, BitConverter.UInt64BitsToDouble(r.U64(key)));
            case GgufValueType.Array:
                return ReadArray(ref r, key, depth);
            default:
                throw new GgufFormatException($"unknown value type id {(uint)type}", key, typeAt, FilePath);
        }
    }

    private GgufValue ReadArray(ref Reader r, string key, int depth)
    {
        if (depth >= MaxArrayNesting)
            throw new GgufFormatException($"arrays nested deeper than {MaxArrayNesting} levels", key, r.Position, FilePath);
        long elemTypeAt = r.Position;
        var elemType = (GgufValueType)r.U32(new FieldName(key, ".element_type"));
        long countAt = r.Position;
        ulong count = r.U64(new FieldName(key, ".count"));
        int minSize = elemType switch
        {
            GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.Bool => 1,
            GgufValueType.UInt16 or GgufValueType.Int16 => 2,
            GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.Float32 => 4,
            GgufValueType.UInt64 or GgufValueType.Int64 or GgufValueType.Float64 or GgufValueType.String => 8,
            GgufValueType.Array => 12,
            _ => throw new GgufFormatException($"unknown array element type id {(uint)elemType}", key, elemTypeAt, FilePath),
        };
        if (count > (ulong)r.Remaining / (ulong)minSize)
            throw new GgufFormatException($"array count {count} cannot fit in the remaining {r.Remaining} bytes", key + ".count", countAt, FilePath);
        // Fits in the file, but a CLR array (and the byte spans read below) is limited to Array.MaxLength bytes.
        if (count > (ulong)Array.MaxLength / (ulong)minSize)
            throw new GgufFormatException($"array count {count} is too large", key + ".count", countAt, FilePath);
        int n = (int)count;
        object array;
        switch (elemType)
        {
            case GgufValueType.UInt8: array = r.Bytes(n, key).ToArray(); break;
            case GgufValueType.Int8: array = MemoryMarshal.Cast<byte, sbyte>(r.Bytes(n, key)).ToArray(); break;
            case GgufValueType.Bool:
                {
                    long at = r.Position;
                    var src = r.Bytes(n, key);
                    var b = new bool[n];
                    for (int i = 0; i < n; i++)
                    {
                        if (src[i] > 1) throw new GgufFormatException($"boolean byte {i} of the array is {src[i]}, expected 0 or 1", key, at + i, FilePath);
                        b[i] = src[i] != 0;
                    }
                    array = b;
                    break;
                }
            case GgufValueType.UInt16: array = MemoryMarshal.Cast<byte, ushort>(r.Bytes(n * 2, key)).ToArray(); break;
            case GgufValueType.Int16: array = MemoryMarshal.Cast<byte, short>(r.Bytes(n * 2, key)).ToArray(); break;
            case GgufValueType.UInt32: array = MemoryMarshal.Cast<byte, uint>(r.Bytes(n * 4, key)).ToArray(); break;
            case GgufValueType.Int32: array = MemoryMarshal.Cast<byte, int>(r.Bytes(n * 4, key)).ToArray(); break;
            case GgufValueType.Float32: array = MemoryMarshal.Cast<byte, float>(r.Bytes(n * 4, key)).ToArray(); break;
            case GgufValueType.UInt64: array = MemoryMarshal.Cast<byte, ulong>(r.Bytes(n * 8, key)).ToArray(); break;
            case GgufValueType.Int64: array = MemoryMarshal.Cast<byte, long>(r.Bytes(n * 8, key)).ToArray(); break;
            case GgufValueType.Float64: array = MemoryMarshal.Cast<byte, double>(r.Bytes(n * 8, key)).ToArray(); break;
            case GgufValueType.String:
                {
                    var s = new string[n];
                    for (int i = 0; i < n; i++) s[i] = r.String(key);
                    array = s;
                    break;
                }
            default: // nested arrays
                {
                    var items = new GgufValue[n];
                    // Each element of an array of arrays is itself (u32 element type, u64 count, elements).
                    for (int i = 0; i < n; i++) items[i] = ReadArray(ref r, key, depth + 1);
                    array = items;
                    break;
                }
        }
        return new GgufValue(GgufValueType.Array, array, elemType);
    }

    /// <summary>
    /// A field name for error messages, composed only when an error is thrown: <c>{Name}{Middle}[{Index}]{Suffix}</c>
    /// (the index part only when it is not negative), e.g. <c>metadata[3].key</c> or <c>blk.0.attn_q.weight.ne[1]</c>.
    /// Formatting these eagerly for every key and tensor would allocate several strings per entry.
    /// </summary>
    private readonly struct FieldName(string name, string? middle = null, long index = -1, string? suffix = null)
    {
        public static implicit operator FieldName(string name) => new(name);

        public override string ToString() => index >= 0 ? $"{name}{middle}[{index}]{suffix}" : string.Concat(name, middle, suffix);
    }

    internal static long AlignUp(long value, long alignment) => (value + alignment - 1) / alignment * alignment;

    /// <summary>Bounds-checked little-endian cursor over the mapped file.</summary>
    private ref struct Reader
    {
        private readonly byte* _p;
        private readonly long _length;
        private readonly string? _file;
        public long Position;

        public Reader(byte* p, long length, string? file)
        {
            _p = p;
            _length = length;
            _file = file;
            Position = 0;
        }

        public readonly long Remaining => _length - Position;

        private void Need(long n, FieldName field)
        {
            if (n < 0 || n > _length - Position)
                throw new GgufFormatException($"needs {n} bytes but only {Math.Max(0, _length - Position)} remain (file truncated?)", field.ToString(), Position, _file);
        }

        public byte U8(FieldName field) { Need(1, field); return _p[Position++]; }

        public bool Bool(FieldName field)
        {
            long at = Position;
            byte b = U8(field);
            if (b > 1) throw new GgufFormatException($"boolean byte is {b}, expected 0 or 1", field.ToString(), at, _file);
            return b != 0;
        }

        public ushort U16(FieldName field) { Need(2, field); var v = *(ushort*)(_p + Position); Position += 2; return v; }
        public uint U32(FieldName field) { Need(4, field); var v = *(uint*)(_p + Position); Position += 4; return v; }
        public ulong U64(FieldName field) { Need(8, field); var v = *(ulong*)(_p + Position); Position += 8; return v; }

        public ReadOnlySpan<byte> Bytes(int n, FieldName field)
        {
            Need(n, field);
            var span = new ReadOnlySpan<byte>(_p + Position, n);
            Position += n;
            return span;
        }

        /// <summary>
        /// A u64-length-prefixed UTF-8 string. With <paramref name="strict"/> (keys and tensor names) invalid UTF-8 is
        /// refused, since decoding it to U+FFFD would let distinct names collide; values are decoded leniently because some
        /// vocabularies hold tokens that are not valid UTF-8 on their own.
        /// </summary>
        public string String(FieldName field, bool strict = false)
        {
            long at = Position;
            ulong len = U64(field);
            if (len > (ulong)Remaining || len > int.MaxValue)
                throw new GgufFormatException($"string length {len} exceeds the remaining {Remaining} bytes", field.ToString(), at, _file);
            var bytes = Bytes((int)len, field);
            if (Utf8.IsValid(bytes)) return Encoding.UTF8.GetString(bytes);
            if (strict) throw new GgufFormatException("the string is not valid UTF-8", field.ToString(), at, _file);
            return DecodeWithReplacement(bytes);
        }

        /// <summary>
        /// Decodes invalid UTF-8 with U+FFFD replacement, as <see cref="Encoding.UTF8"/> does; but Encoding's fallback path
        /// allocates about 15 times the input, which a crafted file could exploit. UTF-16 never needs more chars than
        /// there are UTF-8 bytes, so one pooled buffer suffices.
        /// </summary>
        private static string DecodeWithReplacement(ReadOnlySpan<byte> bytes)
        {
            char[] buffer = ArrayPool<char>.Shared.Rent(bytes.Length);
            try
            {
                Utf8.ToUtf16(bytes, buffer, out _, out int written, replaceInvalidSequences: true);
                return new string(buffer, 0, written);
            }
            finally
            {
                ArrayPool<char>.Shared.Return(buffer);
            }
        }
    }
}
