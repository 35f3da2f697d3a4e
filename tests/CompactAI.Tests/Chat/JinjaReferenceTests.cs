using System.Text.Json;
using CompactAI.Chat;

namespace CompactAI.Tests.Chat;

/// <summary>
/// Goldens/jinja-cases.json: small templates covering whitespace control, loops, scoping, filters, tests, methods,
/// printing and undefined semantics, rendered by Python Jinja2 configured as transformers (reference/make-jinja-goldens.py).
/// CompactAI must produce the same text, or fail with <see cref="ChatTemplateException"/> where Jinja2 fails.
/// </summary>
public sealed class JinjaReferenceTests
{
    private static readonly Lazy<JsonDocument> Doc = new(() => GoldenFiles.Load("jinja-cases.json"));

    public static TheoryData<string> Cases()
    {
        var data = new TheoryData<string>();
        foreach (var c in Doc.Value.RootElement.GetProperty("cases").EnumerateArray()) data.Add(c.GetProperty("name").GetString()!);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Matches_python_jinja2(string name)
    {
        var c = Doc.Value.RootElement.GetProperty("cases").EnumerateArray().Single(x => x.GetProperty("name").GetString() == name);
        var variables = c.GetProperty("variables").EnumerateObject().ToDictionary(p => p.Name, p => (object?)p.Value.Clone());
        string source = c.GetProperty("source").GetString()!;

        if (c.TryGetProperty("error", out var error))
        {
            var e = Assert.Throws<ChatTemplateException>(() => ChatTemplate.Parse(source).Render(variables));
            Assert.Equal(error.GetString()!.StartsWith("TemplateError: ", StringComparison.Ordinal), e.RaisedByTemplate);
            if (e.RaisedByTemplate) Assert.Equal(error.GetString()!["TemplateError: ".Length..], e.Reason);
            return;
        }
        Assert.Equal(c.GetProperty("output").GetString(), ChatTemplate.Parse(source).Render(variables));
    }
}
