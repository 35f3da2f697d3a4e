using System.Collections;
using System.Diagnostics.CodeAnalysis;

namespace CompactAI.Gguf;

/// <summary>
/// The key/value metadata of a GGUF file, in file order, with typed accessors.
/// Accessors without a default throw <see cref="GgufFormatException"/> when the key is missing or of the wrong type;
/// integer accessors accept any integer width whose value fits the requested type.
/// </summary>
public sealed class GgufMetadata : IReadOnlyDictionary<string, GgufValue>
{
    private readonly Dictionary<string, GgufValue> _values;
    private readonly List<string> _order;

    internal GgufMetadata(string? filePath)
    {
        _values = new Dictionary<string, GgufValue>(StringComparer.Ordinal);
        _order = new List<string>();
        FilePath = filePath;
    }

    internal string? FilePath { get; }

    /// <summary>Reserves room for <paramref name="count"/> entries (avoids regrowing while a file is parsed).</summary>
    internal void EnsureCapacity(int count)
    {
        _values.EnsureCapacity(count);
        _order.EnsureCapacity(count);
    }

    internal bool TryAdd(string key, GgufValue value)
    {
        if (!_values.TryAdd(key, value)) return false;
        _order.Add(key);
        return true;
    }

    /// <inheritdoc />
    public GgufValue this[string key] => _values.TryGetValue(key, out var v) ? v : throw Missing(key);

    /// <inheritdoc />
    public IEnumerable<string> Keys => _order;

    /// <inheritdoc />
    public IEnumerable<GgufValue> Values => _order.Select(k => _values[k]);

    /// <inheritdoc />
    public int Count => _order.Count;

    /// <inheritdoc />
    public bool ContainsKey(string key) => _values.ContainsKey(key);

    /// <inheritdoc />
    public bool TryGetValue(string key, [MaybeNullWhen(false)] out GgufValue value) => _values.TryGetValue(key, out value);

    /// <inheritdoc />
    public IEnumerator<KeyValuePair<string, GgufValue>> GetEnumerator()
    {
        foreach (var k in _order) yield return new KeyValuePair<string, GgufValue>(k, _values[k]);
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>The string at <paramref name="key"/>.</summary>
    public string GetString(string key) => Get<string>(key, GgufValueType.String);

    /// <summary>The string at <paramref name="key"/>, or <paramref name="defaultValue"/> when absent.</summary>
    [return: NotNullIfNotNull(nameof(defaultValue))]
    public string? GetString(string key, string? defaultValue) => ContainsKey(key) ? GetString(key) : defaultValue;

    /// <summary>The boolean at <paramref name="key"/>, or <paramref name="defaultValue"/> when absent.</summary>
    public bool GetBool(string key, bool defaultValue) => ContainsKey(key) ? Get<bool>(key, GgufValueType.Bool) : defaultValue;

    /// <summary>The integer at <paramref name="key"/> as <see cref="uint"/>.</summary>
    public uint GetUInt32(string key) => (uint)GetInteger(key, 0, uint.MaxValue);

    /// <summary>The integer at <paramref name="key"/> as <see cref="uint"/>, or <paramref name="defaultValue"/> when absent.</summary>
    public uint GetUInt32(string key, uint defaultValue) => ContainsKey(key) ? GetUInt32(key) : defaultValue;

    /// <summary>The integer at <paramref name="key"/> as <see cref="int"/>.</summary>
    public int GetInt32(string key) => (int)GetInteger(key, int.MinValue, int.MaxValue);

    /// <summary>The integer at <paramref name="key"/> as <see cref="int"/>, or <paramref name="defaultValue"/> when absent.</summary>
    public int GetInt32(string key, int defaultValue) => ContainsKey(key) ? GetInt32(key) : defaultValue;

    /// <summary>The integer at <paramref name="key"/> as <see cref="ulong"/>.</summary>
    public ulong GetUInt64(string key)
    {
        var v = this[key];
        if (v.TryGetInteger(out long s, out ulong u, out bool isUnsigned))
        {
            if (isUnsigned) return u;
            if (s >= 0) return (ulong)s;
        }
        throw WrongType(key, v, "a non-negative integer");
    }

    /// <summary>The number at <paramref name="key"/> (float, double or integer) as <see cref="float"/>.</summary>
    public float GetFloat32(string key)
    {
        var v = this[key];
        return v.Value switch
        {
            float f => f,
            double d => (float)d,
            _ when v.TryGetInteger(out long s, out ulong u, out bool isUnsigned) => isUnsigned ? u : s,
            _ => throw WrongType(key, v, "a number"),
        };
    }

    /// <summary>The number at <paramref name="key"/> as <see cref="float"/>, or <paramref name="defaultValue"/> when absent.</summary>
    public float GetFloat32(string key, float defaultValue) => ContainsKey(key) ? GetFloat32(key) : defaultValue;

    /// <summary>
    /// The array at <paramref name="key"/> as a typed array: <c>string[]</c>, <c>float[]</c>, <c>int[]</c>, <c>uint[]</c>, ...
    /// (the element type must match exactly; integer arrays of another width are converted when every value fits).
    /// </summary>
    public T[] GetArray<T>(string key)
    {
        var v = this[key];
        if (v.Type != GgufValueType.Array) throw WrongType(key, v, $"an array of {typeof(T).Name}");
        // An exact type check: the CLR lets a uint[] pass as int[] (and sbyte[] as byte[], ...), which would reinterpret
        // values instead of range-checking them.
        if (v.Value.GetType() == typeof(T[])) return (T[])v.Value;
        bool integerElements = v.ElementType is GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.UInt16 or GgufValueType.Int16
            or GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.UInt64 or GgufValueType.Int64;
        if (integerElements && (typeof(T) == typeof(int) || typeof(T) == typeof(uint) || typeof(T) == typeof(long)))
        {
            var src = (Array)v.Value;
            var result = new T[src.Length];
            for (int i = 0; i < src.Length; i++)
            {
                object? item = src.GetValue(i);
                try
                {
                    result[i] = item switch
                    {
                        byte or sbyte or short or ushort or int or uint or long or ulong => (T)Convert.ChangeType(item, typeof(T), System.Globalization.CultureInfo.InvariantCulture),
                        _ => throw WrongType(key, v, $"an array of {typeof(T).Name}"),
                    };
                }
                catch (OverflowException)
                {
                    throw new GgufFormatException($"array element {i} ({item}) does not fit {typeof(T).Name}", key, -1, FilePath);
                }
            }
            return result;
        }
        throw WrongType(key, v, $"an array of {typeof(T).Name}");
    }

    /// <summary>The array at <paramref name="key"/>, or null when absent (see <see cref="GetArray{T}(string)"/>).</summary>
    public T[]? GetArrayOrNull<T>(string key) => ContainsKey(key) ? GetArray<T>(key) : null;

    private T Get<T>(string key, GgufValueType type)
    {
        var v = this[key];
        return v.Value is T t ? t : throw WrongType(key, v, type.ToString());
    }

    private long GetInteger(string key, long min, long max)
    {
        var v = this[key];
        if (!v.TryGetInteger(out long s, out ulong u, out bool isUnsigned)) throw WrongType(key, v, "an integer");
        if (isUnsigned)
        {
            if (u > (ulong)max) throw new GgufFormatException($"value {u} is out of range [{min}, {max}]", key, -1, FilePath);
            return (long)u;
        }
        if (s < min || s > max) throw new GgufFormatException($"value {s} is out of range [{min}, {max}]", key, -1, FilePath);
        return s;
    }

    private GgufFormatException Missing(string key) =>
        new($"required metadata key is missing ({Count} keys present)", key, -1, FilePath);

    private GgufFormatException WrongType(string key, GgufValue v, string expected) =>
        new($"expected {expected} but found {(v.Type == GgufValueType.Array ? $"an array of {v.ElementType}" : v.Type.ToString())}", key, -1, FilePath);
}
