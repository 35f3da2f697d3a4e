using System.Text.Json;
using Microsoft.Extensions.AI;

namespace CompactAI.Hybrid;

/// <summary>
/// Accepts an answer whose text parses as JSON (System.Text.Json) and satisfies a JSON Schema subset:
/// <c>type</c> (a name or an array of names: object, array, string, number, integer, boolean, null),
/// <c>properties</c>, <c>required</c>, <c>additionalProperties: false</c>, <c>enum</c>, <c>items</c>,
/// <c>additionalProperties</c> (false or a schema), <c>minimum</c>/<c>maximum</c>, <c>minLength</c>/<c>maxLength</c>,
/// <c>minItems</c>/<c>maxItems</c> and <c>const</c>; the annotations (<c>title</c>, <c>description</c>, <c>$schema</c>,
/// <c>$id</c>, <c>$comment</c>, <c>default</c>, <c>examples</c>, <c>format</c>) are ignored. These are the keywords of
/// <see cref="CompactAI.Sampling.Constraints.JsonConstraint"/>, so a schema that constrains generation also validates
/// answers; any other keyword throws <see cref="NotSupportedException"/> naming it and where it is, as the constraint
/// does, rather than being silently ignored. (The validator does not share the constraint's generation limits: property
/// names that need escaping, required properties missing from <c>properties</c>, more than 64 properties or enum values,
/// <c>minimum</c>/<c>maximum</c> on non-integers are all fine here.) A Markdown code fence around the JSON (```json … ```) is tolerated, because small
/// models add one even when told not to.
/// </summary>
/// <remarks>Immutable and thread-safe.</remarks>
public sealed class JsonSchemaValidator : IResponseValidator
{
    private readonly JsonElement _schema;

    /// <summary>Creates the validator from a schema document.</summary>
    /// <param name="schema">The schema; cloned, so the caller's document may be disposed.</param>
    /// <param name="name">Name recorded in decisions; defaults to <c>json-schema</c>.</param>
    /// <exception cref="ArgumentException">The schema is not a JSON object.</exception>
    /// <exception cref="NotSupportedException">The schema uses a keyword outside the subset; the message names it and its path.</exception>
    public JsonSchemaValidator(JsonElement schema, string? name = null)
    {
        if (schema.ValueKind != JsonValueKind.Object)
        {
            throw new ArgumentException("A schema must be a JSON object.", nameof(schema));
        }

        RejectUnknownKeywords(schema, "#");

        _schema = schema.Clone();
        Name = name ?? "json-schema";
    }

    /// <summary>Creates the validator from schema text.</summary>
    /// <param name="schemaJson">The schema as JSON text.</param>
    /// <param name="name">Name recorded in decisions; defaults to <c>json-schema</c>.</param>
    public JsonSchemaValidator(string schemaJson, string? name = null)
        : this(ParseSchema(schemaJson), name)
    {
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <inheritdoc />
    public ValueTask<ResponseValidationResult> ValidateAsync(ChatResponse response, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(response);
        return ValueTask.FromResult(Validate(response.Text));
    }

    /// <summary>Validates text directly.</summary>
    /// <param name="text">The candidate JSON text.</param>
    /// <returns>The result, naming the first violation with a JSON-pointer-like path.</returns>
    public ResponseValidationResult Validate(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(StripCodeFence(text));
        }
        catch (JsonException ex)
        {
            return ResponseValidationResult.Fail(Name, $"not valid JSON: {ex.Message}");
        }

        using (document)
        {
            string? error = Check(_schema, document.RootElement, "$");
            return error is null ? ResponseValidationResult.Pass(Name) : ResponseValidationResult.Fail(Name, error);
        }
    }

    /// <summary>Walks every subschema (properties, additionalProperties, items) and throws on the first keyword outside the subset.</summary>
    private static void RejectUnknownKeywords(JsonElement schema, string path)
    {
        if (schema.ValueKind != JsonValueKind.Object)
        {
            return;
        }

        List<string>? unknown = null;
        foreach (JsonProperty keyword in schema.EnumerateObject())
        {
            if (!CompactAI.Sampling.Constraints.JsonSchemaSet.IsKnownKeyword(keyword.Name))
            {
                (unknown ??= []).Add($"'{keyword.Name}'");
            }
        }

        if (unknown is not null)
        {
            throw new NotSupportedException($"JSON Schema keyword(s) {string.Join(", ", unknown)} at {path} are not supported. " +
                "Supported: " + CompactAI.Sampling.Constraints.JsonSchemaSet.SupportedKeywords);
        }

        if (schema.TryGetProperty("properties", out JsonElement properties) && properties.ValueKind == JsonValueKind.Object)
        {
            foreach (JsonProperty property in properties.EnumerateObject())
            {
                RejectUnknownKeywords(property.Value, $"{path}/properties/{property.Name}");
            }
        }

        if (schema.TryGetProperty("additionalProperties", out JsonElement additional))
        {
            RejectUnknownKeywords(additional, $"{path}/additionalProperties");
        }

        if (schema.TryGetProperty("items", out JsonElement items))
        {
            RejectUnknownKeywords(items, $"{path}/items");
        }
    }

    private static JsonElement ParseSchema(string schemaJson)
    {
        ArgumentNullException.ThrowIfNull(schemaJson);
        using var document = JsonDocument.Parse(schemaJson);
        return document.RootElement.Clone();
    }

    private static string StripCodeFence(string text)
    {
        ReadOnlySpan<char> span = text.AsSpan().Trim();
        if (!span.StartsWith("```", StringComparison.Ordinal))
        {
            return text;
        }

        int firstNewline = span.IndexOf('\n');
        int closing = span.LastIndexOf("```", StringComparison.Ordinal);
        if (firstNewline < 0 || closing <= firstNewline)
        {
            return text;
        }

        return span[(firstNewline + 1)..closing].ToString();
    }

    private static string? Check(JsonElement schema, JsonElement value, string path)
    {
        if (schema.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        if (schema.TryGetProperty("type", out JsonElement type) && !MatchesType(type, value))
        {
            return $"{path}: expected type {type.GetRawText()}, found {value.ValueKind.ToString().ToLowerInvariant()}";
        }

        if (schema.TryGetProperty("enum", out JsonElement allowed) && allowed.ValueKind == JsonValueKind.Array)
        {
            bool found = false;
            foreach (JsonElement candidate in allowed.EnumerateArray())
            {
                if (JsonElement.DeepEquals(candidate, value))
                {
                    found = true;
                    break;
                }
            }

            if (!found)
            {
                return $"{path}: value {value.GetRawText()} is not one of {allowed.GetRawText()}";
            }
        }

        if (schema.TryGetProperty("const", out JsonElement constant) && !JsonElement.DeepEquals(constant, value))
        {
            return $"{path}: value {value.GetRawText()} is not the constant {constant.GetRawText()}";
        }

        return value.ValueKind switch
        {
            JsonValueKind.Object => CheckObject(schema, value, path),
            JsonValueKind.Array => CheckArray(schema, value, path),
            JsonValueKind.String => CheckString(schema, value, path),
            JsonValueKind.Number => CheckNumber(schema, value, path),
            _ => null,
        };
    }

    private static bool MatchesType(JsonElement type, JsonElement value)
    {
        if (type.ValueKind == JsonValueKind.Array)
        {
            foreach (JsonElement option in type.EnumerateArray())
            {
                if (MatchesType(option, value))
                {
                    return true;
                }
            }

            return false;
        }

        return type.GetString() switch
        {
            "object" => value.ValueKind == JsonValueKind.Object,
            "array" => value.ValueKind == JsonValueKind.Array,
            "string" => value.ValueKind == JsonValueKind.String,
            "number" => value.ValueKind == JsonValueKind.Number,
            "integer" => value.ValueKind == JsonValueKind.Number && IsInteger(value),
            "boolean" => value.ValueKind is JsonValueKind.True or JsonValueKind.False,
            "null" => value.ValueKind == JsonValueKind.Null,
            _ => true,
        };
    }

    private static bool IsInteger(JsonElement value) =>
        value.TryGetInt64(out _) || (value.TryGetDouble(out double d) && Math.Floor(d) == d && double.IsFinite(d));

    private static string? CheckObject(JsonElement schema, JsonElement value, string path)
    {
        if (schema.TryGetProperty("required", out JsonElement required) && required.ValueKind == JsonValueKind.Array)
        {
            foreach (JsonElement name in required.EnumerateArray())
            {
                if (name.GetString() is string key && !value.TryGetProperty(key, out _))
                {
                    return $"{path}: missing required property '{key}'";
                }
            }
        }

        bool hasProperties = schema.TryGetProperty("properties", out JsonElement properties) && properties.ValueKind == JsonValueKind.Object;
        schema.TryGetProperty("additionalProperties", out JsonElement additional);
        bool closed = additional.ValueKind == JsonValueKind.False;
        foreach (JsonProperty property in value.EnumerateObject())
        {
            if (hasProperties && properties.TryGetProperty(property.Name, out JsonElement propertySchema))
            {
                string? error = Check(propertySchema, property.Value, $"{path}.{property.Name}");
                if (error is not null)
                {
                    return error;
                }
            }
            else if (closed)
            {
                return $"{path}: property '{property.Name}' is not allowed";
            }
            else if (additional.ValueKind == JsonValueKind.Object && Check(additional, property.Value, $"{path}.{property.Name}") is string extraError)
            {
                return extraError;
            }
        }

        return null;
    }

    private static string? CheckArray(JsonElement schema, JsonElement value, string path)
    {
        int length = value.GetArrayLength();
        if (TryGetNumber(schema, "minItems", out double minItems) && length < minItems)
        {
            return $"{path}: {length} items, fewer than minItems {minItems}";
        }

        if (TryGetNumber(schema, "maxItems", out double maxItems) && length > maxItems)
        {
            return $"{path}: {length} items, more than maxItems {maxItems}";
        }

        if (schema.TryGetProperty("items", out JsonElement items) && items.ValueKind == JsonValueKind.Object)
        {
            int index = 0;
            foreach (JsonElement item in value.EnumerateArray())
            {
                string? error = Check(items, item, $"{path}[{index}]");
                if (error is not null)
                {
                    return error;
                }

                index++;
            }
        }

        return null;
    }

    private static string? CheckString(JsonElement schema, JsonElement value, string path)
    {
        int length = value.GetString()!.Length;
        if (TryGetNumber(schema, "minLength", out double minLength) && length < minLength)
        {
            return $"{path}: length {length} is below minLength {minLength}";
        }

        if (TryGetNumber(schema, "maxLength", out double maxLength) && length > maxLength)
        {
            return $"{path}: length {length} is above maxLength {maxLength}";
        }

        return null;
    }

    private static string? CheckNumber(JsonElement schema, JsonElement value, string path)
    {
        double number = value.GetDouble();
        if (TryGetNumber(schema, "minimum", out double minimum) && number < minimum)
        {
            return $"{path}: {value.GetRawText()} is below minimum {minimum}";
        }

        if (TryGetNumber(schema, "maximum", out double maximum) && number > maximum)
        {
            return $"{path}: {value.GetRawText()} is above maximum {maximum}";
        }

        return null;
    }

    private static bool TryGetNumber(JsonElement schema, string keyword, out double number)
    {
        number = 0;
        return schema.TryGetProperty(keyword, out JsonElement element)
            && element.ValueKind == JsonValueKind.Number
            && element.TryGetDouble(out number);
    }
}
