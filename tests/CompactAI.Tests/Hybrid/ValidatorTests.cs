using CompactAI.Hybrid;
using Microsoft.Extensions.AI;

namespace CompactAI.Tests.Hybrid;

public class ValidatorTests
{
    private const string Schema = """
        {
          "type": "object",
          "required": ["name", "age", "tags"],
          "additionalProperties": false,
          "properties": {
            "name": { "type": "string", "minLength": 1, "maxLength": 10 },
            "age": { "type": "integer", "minimum": 0, "maximum": 150 },
            "tags": { "type": "array", "minItems": 1, "maxItems": 3, "items": { "enum": ["a", "b", "c"] } },
            "note": { "type": ["string", "null"] }
          }
        }
        """;

    [Theory]
    [InlineData("""{"name":"Ada","age":36,"tags":["a"]}""")]
    [InlineData("""{"name":"Ada","age":36,"tags":["a","c"],"note":null}""")]
    [InlineData("```json\n{\"name\":\"Ada\",\"age\":36.0,\"tags\":[\"b\"],\"note\":\"x\"}\n```")]
    public void Json_schema_accepts_conforming_documents(string json)
    {
        ResponseValidationResult result = new JsonSchemaValidator(Schema).Validate(json);

        Assert.True(result.IsValid, result.Error);
    }

    [Theory]
    [InlineData("""{"name":"Ada","age":36""", "not valid JSON")]
    [InlineData("""[1,2]""", "expected type")]
    [InlineData("""{"name":"Ada","tags":["a"]}""", "missing required property 'age'")]
    [InlineData("""{"name":"Ada","age":36.5,"tags":["a"]}""", "$.age: expected type")]
    [InlineData("""{"name":"Ada","age":-1,"tags":["a"]}""", "below minimum")]
    [InlineData("""{"name":"Ada","age":151,"tags":["a"]}""", "above maximum")]
    [InlineData("""{"name":"","age":3,"tags":["a"]}""", "minLength")]
    [InlineData("""{"name":"Adalovelace!","age":3,"tags":["a"]}""", "maxLength")]
    [InlineData("""{"name":"Ada","age":3,"tags":[]}""", "minItems")]
    [InlineData("""{"name":"Ada","age":3,"tags":["a","b","c","a"]}""", "maxItems")]
    [InlineData("""{"name":"Ada","age":3,"tags":["d"]}""", "$.tags[0]: value \"d\" is not one of")]
    [InlineData("""{"name":"Ada","age":3,"tags":["a"],"extra":1}""", "property 'extra' is not allowed")]
    [InlineData("""{"name":"Ada","age":3,"tags":["a"],"note":5}""", "$.note: expected type")]
    public void Json_schema_names_the_first_violation(string json, string expectedError)
    {
        ResponseValidationResult result = new JsonSchemaValidator(Schema, "person").Validate(json);

        Assert.False(result.IsValid);
        Assert.Equal("person", result.Validator);
        Assert.Contains(expectedError, result.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"type":"string","pattern":"^a"}""", "'pattern' at #")]
    [InlineData("""{"type":"object","properties":{"a":{"oneOf":[{"type":"string"}]}}}""", "'oneOf' at #/properties/a")]
    [InlineData("""{"type":"array","items":{"$ref":"#/x"}}""", "'$ref' at #/items")]
    [InlineData("""{"type":"object","additionalProperties":{"not":{}}}""", "'not' at #/additionalProperties")]
    public void Validator_and_constraint_reject_the_same_unknown_keywords(string schema, string where)
    {
        var validator = Assert.Throws<NotSupportedException>(() => new JsonSchemaValidator(schema));
        var constraint = Assert.Throws<NotSupportedException>(() => CompactAI.Sampling.Constraints.JsonConstraint.FromSchema(schema));

        Assert.Contains(where, validator.Message, StringComparison.Ordinal);
        Assert.Contains(where, constraint.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validator_accepts_every_schema_the_constraint_accepts()
    {
        const string schema = """{"title":"t","type":"object","required":["kind"],"properties":{"kind":{"const":"user","description":"d"},"n":{"type":"integer","minimum":1}},"additionalProperties":{"type":"string","format":"x"}}""";
        _ = CompactAI.Sampling.Constraints.JsonConstraint.FromSchema(schema);
        var validator = new JsonSchemaValidator(schema);

        Assert.True(validator.Validate("""{"kind":"user","n":2,"other":"x"}""").IsValid);
        Assert.Contains("is not the constant \"user\"", validator.Validate("""{"kind":"admin"}""").Error, StringComparison.Ordinal);
        Assert.Contains("$.other: expected type", validator.Validate("""{"kind":"user","other":3}""").Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Regex_validator_requires_or_forbids_a_match()
    {
        var response = new ChatResponse(new ChatMessage(ChatRole.Assistant, "Order #12345 shipped."));

        Assert.True((await new RegexValidator(@"#\d{5}").ValidateAsync(response, default)).IsValid);
        Assert.False((await new RegexValidator(@"#\d{6}").ValidateAsync(response, default)).IsValid);
        Assert.False((await new RegexValidator("shipped", mustMatch: false).ValidateAsync(response, default)).IsValid);
    }

    [Fact]
    public async Task Delegate_validator_runs_the_predicate()
    {
        var validator = new DelegateValidator("short", text => text.Length < 10, "too long");

        ResponseValidationResult ok = await validator.ValidateAsync(new ChatResponse(new ChatMessage(ChatRole.Assistant, "yes")), default);
        ResponseValidationResult bad = await validator.ValidateAsync(new ChatResponse(new ChatMessage(ChatRole.Assistant, "a rather long answer")), default);

        Assert.True(ok.IsValid);
        Assert.Equal(("short", false, "too long"), (bad.Validator, bad.IsValid, bad.Error));
    }
}
