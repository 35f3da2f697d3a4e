using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace CompactAI.Sampling.Constraints;

/// <summary>The JSON types a schema node allows (JSON Schema <c>type</c>).</summary>
[Flags]
internal enum JsonTypes : byte
{
    None = 0,
    Object = 1,
    Array = 2,
    String = 4,
    Integer = 8,
    Number = 16,
    Boolean = 32,
    Null = 64,
    Any = Object | Array | String | Integer | Number | Boolean | Null,
}

/// <summary>One compiled schema: what a value at this place may be. Node 0 of every <see cref="JsonSchemaSet"/> is "any JSON value".</summary>
internal sealed class JsonSchemaNode
{
    public JsonTypes Types = JsonTypes.Any;

    // object
    public byte[][] PropertyNames = [];   // UTF-8, written as-is between the quotes (no escapes)
    public int[] PropertyNodes = [];
    public ulong Required;                // bit i: PropertyNames[i] is required
    public ulong AllProperties;
    public int AdditionalNode;            // -1: additionalProperties false

    // array
    public int ItemsNode;
    public int MinItems;
    public int MaxItems = ushort.MaxValue - 1;

    // string (characters = Unicode code points; an escape counts as one)
    public int MinLength;
    public int MaxLength = int.MaxValue;

    // integer
    public bool HasRange;
    public long Minimum = long.MinValue;
    public long Maximum = long.MaxValue;

    // enum / const: the allowed values, written compactly
    public byte[][]? Enum;

    /// <summary>The fewest bytes a value of this node takes (compact JSON): what closing the document must still write for it.</summary>
    public int MinBytes;
}

/// <summary>
/// A JSON Schema compiled to <see cref="JsonSchemaNode"/>s. The supported subset: <c>type</c> (a name or a list),
/// <c>properties</c>, <c>required</c>, <c>additionalProperties</c> (true, false or a schema), <c>items</c> (one schema),
/// <c>minItems</c>/<c>maxItems</c>, <c>minLength</c>/<c>maxLength</c>, <c>minimum</c>/<c>maximum</c> (for
/// <c>"type": "integer"</c> only), <c>enum</c> and <c>const</c>; annotations (<c>title</c>, <c>description</c>,
/// <c>$schema</c>, <c>$id</c>, <c>$comment</c>, <c>default</c>, <c>examples</c>, <c>format</c>) are ignored. Any other
/// keyword throws <see cref="NotSupportedException"/> naming it and where it is.
/// </summary>
internal sealed class JsonSchemaSet
{
    public const int MaxProperties = 64;
    public const int MaxEnumValues = 64;

    /// <summary>Deepest nesting of subschemas accepted, as deep as the string overload's JSON reader allows (64).</summary>
    public const int MaxDepth = 64;

    private static readonly HashSet<string> s_annotations = ["title", "description", "$schema", "$id", "$comment", "default", "examples", "format"];
    private static readonly HashSet<string> s_supported =
        ["type", "properties", "required", "additionalProperties", "items", "minItems", "maxItems", "minLength", "maxLength", "minimum", "maximum", "enum", "const"];
    private static readonly JsonWriterOptions s_compact = new() { Indented = false, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private readonly List<JsonSchemaNode> _nodes = [new JsonSchemaNode { AdditionalNode = 0, ItemsNode = 0 }];

    /// <summary>The supported keywords, as the message of an unsupported one lists them.</summary>
    internal const string SupportedKeywords = "type, properties, required, additionalProperties, items, minItems, maxItems, minLength, maxLength, " +
        "minimum/maximum (integers), enum, const.";

    /// <summary>Whether a keyword is in the subset or an ignored annotation: the one keyword contract shared with the hybrid JSON validator.</summary>
    internal static bool IsKnownKeyword(string keyword) => s_supported.Contains(keyword) || s_annotations.Contains(keyword);

    private JsonSchemaSet()
    {
    }

    public JsonSchemaNode[] Nodes { get; private set; } = [];

    public int Root { get; private set; }

    /// <summary>Any JSON value (JSON mode without a schema).</summary>
    public static JsonSchemaSet AnyValue()
    {
        var set = new JsonSchemaSet();
        set.Finish();
        return set;
    }

    /// <summary>Any JSON object (OpenAI's "JSON mode").</summary>
    public static JsonSchemaSet AnyObject()
    {
        var set = new JsonSchemaSet();
        set._nodes.Add(new JsonSchemaNode { Types = JsonTypes.Object, AdditionalNode = 0, ItemsNode = 0 });
        set.Root = 1;
        set.Finish();
        return set;
    }

    /// <exception cref="NotSupportedException">The schema uses a keyword outside the subset; the message names it.</exception>
    /// <exception cref="ArgumentException">The schema is malformed or can match nothing.</exception>
    public static JsonSchemaSet Compile(JsonElement schema)
    {
        var set = new JsonSchemaSet();
        set.Root = set.Add(schema, "#", 1);
        set.Finish();
        return set;
    }

    /// <summary>
    /// Freezes the nodes and computes each one's <see cref="JsonSchemaNode.MinBytes"/>: node 0 (any value, referring to
    /// nothing it needs) first, then the rest from the last, since children are added after their parents.
    /// </summary>
    private void Finish()
    {
        Nodes = [.. _nodes];
        Nodes[0].MinBytes = MinBytes(Nodes[0], Nodes);
        for (int i = Nodes.Length - 1; i > 0; i--) Nodes[i].MinBytes = MinBytes(Nodes[i], Nodes);
    }

    private static int MinBytes(JsonSchemaNode node, JsonSchemaNode[] nodes)
    {
        if (node.Enum is { } values) return values.Min(v => v.Length);
        long best = int.MaxValue;
        var t = node.Types;
        if ((t & (JsonTypes.Null | JsonTypes.Boolean)) != 0) best = 4;
        if ((t & (JsonTypes.Integer | JsonTypes.Number)) != 0)
        {
            long closest = !node.HasRange ? 0 : node.Minimum > 0 ? node.Minimum : node.Maximum < 0 ? node.Maximum : 0;
            best = Math.Min(best, closest.ToString(System.Globalization.CultureInfo.InvariantCulture).Length);
        }
        if ((t & JsonTypes.String) != 0) best = Math.Min(best, 2L + node.MinLength);
        if ((t & JsonTypes.Array) != 0)
            best = Math.Min(best, 2L + (long)node.MinItems * (nodes[node.ItemsNode].MinBytes + 1) - (node.MinItems > 0 ? 1 : 0));
        if ((t & JsonTypes.Object) != 0)
        {
            long size = 2;
            int count = 0;
            for (ulong r = node.Required; r != 0; r &= r - 1, count++)
            {
                int i = System.Numerics.BitOperations.TrailingZeroCount(r);
                size += node.PropertyNames[i].Length + 3 + nodes[node.PropertyNodes[i]].MinBytes;
            }
            best = Math.Min(best, size + Math.Max(0, count - 1));
        }
        return (int)Math.Min(best, int.MaxValue / 4);
    }

    private int Add(JsonElement s, string path, int depth)
    {
        // The compiler recurses per subschema: bound it, or a deep schema built in memory would overflow the stack.
        if (depth > MaxDepth) throw new NotSupportedException($"The schema nests subschemas more than {MaxDepth} levels deep (at {path}).");
        if (s.ValueKind == JsonValueKind.True) return 0;
        if (s.ValueKind != JsonValueKind.Object)
            throw new ArgumentException($"The schema at {path} must be an object or true (false matches nothing).", "schema");
        var unsupported = new List<string>();
        foreach (var p in s.EnumerateObject())
            if (!s_supported.Contains(p.Name) && !s_annotations.Contains(p.Name)) unsupported.Add($"'{p.Name}'");
        if (unsupported.Count > 0)
            throw new NotSupportedException($"JSON Schema keyword(s) {string.Join(", ", unsupported)} at {path} are not supported. " +
                "Supported: " + SupportedKeywords);

        var node = new JsonSchemaNode { AdditionalNode = 0, ItemsNode = 0 };
        int index = _nodes.Count;
        _nodes.Add(node);

        if (s.TryGetProperty("type", out var type)) node.Types = ParseTypes(type, path);

        if (s.TryGetProperty("enum", out var en))
        {
            if (s.TryGetProperty("const", out _)) throw new NotSupportedException($"'enum' together with 'const' at {path} is not supported.");
            if (en.ValueKind != JsonValueKind.Array || en.GetArrayLength() == 0)
                throw new ArgumentException($"'enum' at {path} must be a non-empty array.", "schema");
            if (en.GetArrayLength() > MaxEnumValues) throw new NotSupportedException($"'enum' at {path} has more than {MaxEnumValues} values.");
            node.Enum = en.EnumerateArray().Select(Compact).ToArray();
        }
        else if (s.TryGetProperty("const", out var c))
        {
            node.Enum = [Compact(c)];
        }

        if (s.TryGetProperty("properties", out var props))
        {
            if (props.ValueKind != JsonValueKind.Object) throw new ArgumentException($"'properties' at {path} must be an object.", "schema");
            var names = new List<byte[]>();
            var nodes = new List<int>();
            foreach (var p in props.EnumerateObject())
            {
                if (names.Count == MaxProperties) throw new NotSupportedException($"More than {MaxProperties} properties at {path} are not supported.");
                if (p.Name.Any(ch => ch is '"' or '\\' || ch < ' '))
                    throw new NotSupportedException($"Property name '{p.Name}' at {path} needs escaping; such names are not supported.");
                names.Add(Encoding.UTF8.GetBytes(p.Name));
                nodes.Add(Add(p.Value, $"{path}/properties/{p.Name}", depth + 1));
            }
            node.PropertyNames = [.. names];
            node.PropertyNodes = [.. nodes];
            node.AllProperties = names.Count == 64 ? ulong.MaxValue : (1UL << names.Count) - 1;
        }

        if (s.TryGetProperty("additionalProperties", out var additional))
        {
            node.AdditionalNode = additional.ValueKind switch
            {
                JsonValueKind.False => -1,
                JsonValueKind.True => 0,
                _ => Add(additional, $"{path}/additionalProperties", depth + 1),
            };
        }

        if (s.TryGetProperty("required", out var required))
        {
            if (required.ValueKind != JsonValueKind.Array) throw new ArgumentException($"'required' at {path} must be an array.", "schema");
            foreach (var r in required.EnumerateArray())
            {
                string name = r.GetString() ?? throw new ArgumentException($"'required' at {path} must hold strings.", "schema");
                int i = Array.FindIndex(node.PropertyNames, n => n.AsSpan().SequenceEqual(Encoding.UTF8.GetBytes(name)));
                if (i < 0)
                    throw new NotSupportedException($"Required property '{name}' at {path} is not listed in 'properties'; list it there.");
                node.Required |= 1UL << i;
            }
        }

        if (s.TryGetProperty("items", out var items))
        {
            if (items.ValueKind == JsonValueKind.Array) throw new NotSupportedException($"'items' as an array (tuple validation) at {path} is not supported.");
            node.ItemsNode = Add(items, $"{path}/items", depth + 1);
        }

        node.MinItems = Count(s, "minItems", 0, path);
        node.MaxItems = Count(s, "maxItems", node.MaxItems, path);
        if (node.MaxItems > ushort.MaxValue - 1) throw new NotSupportedException($"'maxItems' above {ushort.MaxValue - 1} at {path} is not supported.");
        node.MinLength = Count(s, "minLength", 0, path);
        node.MaxLength = Count(s, "maxLength", int.MaxValue, path);
        if (node.MinItems > node.MaxItems || node.MinLength > node.MaxLength)
            throw new ArgumentException($"The schema at {path} has a minimum above its maximum: it matches nothing.", "schema");

        bool hasMin = s.TryGetProperty("minimum", out var min), hasMax = s.TryGetProperty("maximum", out var max);
        if (hasMin || hasMax)
        {
            if ((node.Types & ~JsonTypes.Null) != JsonTypes.Integer)
                throw new NotSupportedException($"'minimum'/'maximum' at {path} are supported only with \"type\": \"integer\".");
            node.HasRange = true;
            if (hasMin) node.Minimum = Integer(min, "minimum", path);
            if (hasMax) node.Maximum = Integer(max, "maximum", path);
            const long limit = 999_999_999_999_999_999;
            if (node.Minimum < -limit) node.Minimum = -limit;
            if (node.Maximum > limit) node.Maximum = limit;
            if (node.Minimum > node.Maximum) throw new ArgumentException($"'minimum' is above 'maximum' at {path}: it matches nothing.", "schema");
        }
        return index;
    }

    private static JsonTypes ParseTypes(JsonElement type, string path)
    {
        JsonTypes One(JsonElement t) => t.GetString() switch
        {
            "object" => JsonTypes.Object,
            "array" => JsonTypes.Array,
            "string" => JsonTypes.String,
            "integer" => JsonTypes.Integer,
            "number" => JsonTypes.Number | JsonTypes.Integer,
            "boolean" => JsonTypes.Boolean,
            "null" => JsonTypes.Null,
            var other => throw new ArgumentException($"Unknown type '{other}' at {path}.", "schema"),
        };
        if (type.ValueKind == JsonValueKind.String) return One(type);
        if (type.ValueKind != JsonValueKind.Array || type.GetArrayLength() == 0)
            throw new ArgumentException($"'type' at {path} must be a type name or a non-empty array of them.", "schema");
        var types = JsonTypes.None;
        foreach (var t in type.EnumerateArray()) types |= One(t);
        return types;
    }

    private static int Count(JsonElement s, string keyword, int fallback, string path)
    {
        if (!s.TryGetProperty(keyword, out var v)) return fallback;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out int n) || n < 0)
            throw new ArgumentException($"'{keyword}' at {path} must be a non-negative integer.", "schema");
        return n;
    }

    private static long Integer(JsonElement v, string keyword, string path)
    {
        if (v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out long n)) return n;
        if (v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out double d) && d == Math.Floor(d) && Math.Abs(d) < 9e18) return (long)d;
        throw new NotSupportedException($"'{keyword}' at {path} must be an integer that fits 64 bits.");
    }

    private static byte[] Compact(JsonElement value)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer, s_compact)) value.WriteTo(w);
        return buffer.WrittenSpan.ToArray();
    }
}
