using System.Globalization;

namespace CompactAI.Gguf;

/// <summary>
/// One GGUF metadata value. Scalars are boxed CLR values (<see cref="uint"/>, <see cref="float"/>, <see cref="string"/>, ...);
/// arrays are typed CLR arrays (<c>string[]</c>, <c>float[]</c>, <c>int[]</c>, ...) or, for arrays of arrays, <c>GgufValue[]</c>.
/// </summary>
public sealed class GgufValue
{
    /// <summary>Creates a value. <paramref name="value"/> must match <paramref name="type"/> (see the class remarks).</summary>
    public GgufValue(GgufValueType type, object value, GgufValueType elementType = GgufValueType.UInt8)
    {
        ArgumentNullException.ThrowIfNull(value);
        Type = type;
        Value = value;
        ElementType = elementType;
        if (type == GgufValueType.Array && ClrTypeOf(elementType, nested: true) != value.GetType())
            throw new ArgumentException($"An array of {elementType} must be given as {ClrTypeOf(elementType, true).Name}, not {value.GetType().Name}.", nameof(value));
        if (type != GgufValueType.Array && ClrTypeOf(type, nested: false) != value.GetType())
            throw new ArgumentException($"A {type} value must be given as {ClrTypeOf(type, false).Name}, not {value.GetType().Name}.", nameof(value));
        if (value is GgufValue[] items)
        {
            foreach (var item in items)
                if (item is null || item.Type != GgufValueType.Array)
                    throw new ArgumentException("Every element of an array of arrays must be a non-null array value.", nameof(value));
        }
        else if (value is string[] strings && Array.IndexOf(strings, null) >= 0)
        {
            throw new ArgumentException("An array of strings cannot contain null.", nameof(value));
        }
    }

    /// <summary>The value's type.</summary>
    public GgufValueType Type { get; }

    /// <summary>For arrays, the element type; otherwise meaningless.</summary>
    public GgufValueType ElementType { get; }

    /// <summary>The value as a CLR object (see the class summary).</summary>
    public object Value { get; }

    /// <summary>For arrays, the number of elements; otherwise 1.</summary>
    public int Count => Value is Array a ? a.Length : 1;

    /// <summary>True for the integer types (signed or unsigned, any width).</summary>
    public bool IsInteger => Type is GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.UInt16 or GgufValueType.Int16
        or GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.UInt64 or GgufValueType.Int64;

    /// <summary>Reads an integer value of any width as a signed 128-bit-safe <see cref="decimal"/>-free pair; null when not an integer.</summary>
    internal bool TryGetInteger(out long signed, out ulong unsigned, out bool isUnsigned)
    {
        signed = 0; unsigned = 0; isUnsigned = false;
        switch (Value)
        {
            case byte v: unsigned = v; isUnsigned = true; return true;
            case ushort v: unsigned = v; isUnsigned = true; return true;
            case uint v: unsigned = v; isUnsigned = true; return true;
            case ulong v: unsigned = v; isUnsigned = true; return true;
            case sbyte v: signed = v; return true;
            case short v: signed = v; return true;
            case int v: signed = v; return true;
            case long v: signed = v; return true;
            default: return false;
        }
    }

    /// <summary>The CLR type used for a GGUF type (scalar or array element).</summary>
    internal static Type ClrTypeOf(GgufValueType type, bool nested) => type switch
    {
        GgufValueType.UInt8 => nested ? typeof(byte[]) : typeof(byte),
        GgufValueType.Int8 => nested ? typeof(sbyte[]) : typeof(sbyte),
        GgufValueType.UInt16 => nested ? typeof(ushort[]) : typeof(ushort),
        GgufValueType.Int16 => nested ? typeof(short[]) : typeof(short),
        GgufValueType.UInt32 => nested ? typeof(uint[]) : typeof(uint),
        GgufValueType.Int32 => nested ? typeof(int[]) : typeof(int),
        GgufValueType.Float32 => nested ? typeof(float[]) : typeof(float),
        GgufValueType.Bool => nested ? typeof(bool[]) : typeof(bool),
        GgufValueType.String => nested ? typeof(string[]) : typeof(string),
        GgufValueType.UInt64 => nested ? typeof(ulong[]) : typeof(ulong),
        GgufValueType.Int64 => nested ? typeof(long[]) : typeof(long),
        GgufValueType.Float64 => nested ? typeof(double[]) : typeof(double),
        GgufValueType.Array => nested ? typeof(GgufValue[]) : typeof(GgufValue),
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "Unknown GGUF value type."),
    };

    /// <inheritdoc />
    public override string ToString()
    {
        if (Value is string s) return s;
        if (Value is Array a)
        {
            const int shown = 8;
            var items = new List<string>(shown);
            foreach (var item in a)
            {
                if (items.Count == shown) break;
                items.Add(item is IFormattable f ? f.ToString(null, CultureInfo.InvariantCulture) : item?.ToString() ?? "");
            }
            return $"[{string.Join(", ", items)}{(a.Length > shown ? $", ... ({a.Length} items)" : "")}]";
        }
        return Value is IFormattable fm ? fm.ToString(null, CultureInfo.InvariantCulture) : Value.ToString() ?? "";
    }
}
