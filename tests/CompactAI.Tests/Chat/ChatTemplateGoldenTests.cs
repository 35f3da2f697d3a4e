using System.Text.Json;
using CompactAI.Chat;

namespace CompactAI.Tests.Chat;

/// <summary>
/// Every template of Goldens/chat-templates.json (published templates of SmolLM2, Qwen2.5, Qwen3, Llama 3/3.1/3.2, Gemma 2/3,
/// Phi-3/3.5, Zephyr/TinyLlama, Mistral) and every built-in fallback, rendered over the golden conversations, must equal
/// @huggingface/jinja's rendering byte for byte, or raise the same template exception.
/// </summary>
public sealed class ChatTemplateGoldenTests
{
    private static readonly ChatTemplateOptions Options = new() { Clock = new ChatGoldens.FixedClock(ChatGoldens.FixedNow) };

    public static TheoryData<string> Cases => ChatGoldens.CaseIds();

    [Theory]
    [MemberData(nameof(Cases))]
    public void Rendering_matches_huggingface_jinja(string id)
    {
        var c = ChatGoldens.Find(id);
        string source = c.Kind == "builtin"
            ? BuiltInChatTemplates.SourceOf(Enum.Parse<BuiltInChatTemplate>(c.Template))
            : ChatGoldens.Sources()[c.Template];
        var template = ChatTemplate.Parse(source, c.BosToken, c.EosToken, Options);

        var variables = new Dictionary<string, object?>
        {
            ["messages"] = c.Messages,
            ["add_generation_prompt"] = c.AddGenerationPrompt,
        };
        foreach (var p in c.Extra.EnumerateObject()) variables[p.Name] = p.Value;

        if (c.Error is not null)
        {
            var e = Assert.Throws<ChatTemplateException>(() => template.Render(variables));
            Assert.True(e.RaisedByTemplate, e.Message);
            Assert.Equal(c.Error, e.Reason);
            return;
        }
        Assert.Equal(c.Output, template.Render(variables));

        // Plain conversations also go through the ChatTurn overload.
        if (c.Messages.EnumerateArray().All(m => m.EnumerateObject().Select(p => p.Name).Order().SequenceEqual(new[] { "content", "role" })
                && m.GetProperty("content").ValueKind == JsonValueKind.String))
        {
            var turns = c.Messages.EnumerateArray().Select(m => new ChatTurn(m.GetProperty("role").GetString()!, m.GetProperty("content").GetString()!)).ToList();
            var extra = c.Extra.EnumerateObject().ToDictionary(p => p.Name, p => (object?)p.Value);
            Assert.Equal(c.Output, template.Render(turns, c.AddGenerationPrompt, extra));
        }
    }

    [Fact]
    public void Built_in_sources_equal_the_rendered_golden_sources()
    {
        foreach (var (name, source) in ChatGoldens.Sources("chat-builtin-templates.json"))
            Assert.Equal(source, BuiltInChatTemplates.SourceOf(Enum.Parse<BuiltInChatTemplate>(name)));
        Assert.Equal(Enum.GetValues<BuiltInChatTemplate>().Length, ChatGoldens.Sources("chat-builtin-templates.json").Count);
    }

    [Fact]
    public void Every_template_family_is_covered()
    {
        var covered = ChatGoldens.Cases().Where(c => c.Output is not null).Select(c => c.Template).ToHashSet();
        foreach (var name in ChatGoldens.Sources().Keys) Assert.Contains(name, covered);
    }
}
