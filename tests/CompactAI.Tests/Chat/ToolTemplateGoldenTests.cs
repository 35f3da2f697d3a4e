using System.Text.Json;
using CompactAI.Chat;
using Microsoft.Extensions.AI;

namespace CompactAI.Tests.Chat;

/// <summary>
/// The real templates of the tool-calling families (llama.cpp's <c>models/templates</c>: Qwen 2.5, Qwen 3, Hermes 2 Pro / 3,
/// Llama 3.1–3.3, Mistral Nemo; Phi-3.5 and Gemma 2 without tool support) rendered from Microsoft.Extensions.AI messages
/// and <see cref="AIFunctionDeclaration"/>s the way <see cref="CompactChatClient"/> maps them, against Python Jinja2 as
/// transformers' <c>apply_chat_template</c> (<c>Goldens/reference/make-tool-goldens.py</c> → <c>chat-tool-renderings.json</c>).
/// </summary>
public sealed class ToolTemplateGoldenTests
{
    private static readonly Lazy<JsonDocument> Doc = new(() => GoldenFiles.Load("chat-tool-renderings.json"));

    private static readonly ChatTemplateOptions Options = new()
    {
        Clock = new ChatGoldens.FixedClock(DateTimeOffset.Parse(Doc.Value.RootElement.GetProperty("fixed_now").GetString()!, System.Globalization.CultureInfo.InvariantCulture)),
    };

    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var c in Doc.Value.RootElement.GetProperty("cases").EnumerateArray()) data.Add(c.GetProperty("template").GetString()!, c.GetProperty("name").GetString()!);
        return data;
    }

    private static ChatTemplate Template(string name)
    {
        var t = Doc.Value.RootElement.GetProperty("templates").EnumerateArray().Single(x => x.GetProperty("name").GetString() == name);
        return ChatTemplate.Parse(t.GetProperty("source").GetString()!, t.GetProperty("bos_token").GetString()!, t.GetProperty("eos_token").GetString()!, Options);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void RenderingFromMeaiMessagesEqualsJinja2(string template, string name)
    {
        var c = Doc.Value.RootElement.GetProperty("cases").EnumerateArray().Single(x => x.GetProperty("template").GetString() == template && x.GetProperty("name").GetString() == name);
        var messages = ToMeai(c.GetProperty("messages"));
        var tools = c.GetProperty("tools").EnumerateArray().Select(t =>
        {
            var f = t.GetProperty("function");
            return AIFunctionFactory.CreateDeclaration(f.GetProperty("name").GetString()!, f.GetProperty("description").GetString(), f.GetProperty("parameters").Clone());
        }).ToList();
        var variables = new Dictionary<string, object?>
        {
            ["messages"] = ToolCalling.Messages(messages),
            ["tools"] = ToolCalling.Tools(tools),
            ["add_generation_prompt"] = true,
        };
        var chat = Template(template);
        if (c.TryGetProperty("error", out var error))
        {
            var e = Assert.Throws<ChatTemplateException>(() => chat.Render(variables));
            Assert.Contains(error.GetString()!, e.Message, StringComparison.Ordinal);
        }
        else Assert.Equal(c.GetProperty("output").GetString(), chat.Render(variables));
    }

    [Theory]
    [InlineData("qwen2.5", true, "Hermes")]
    [InlineData("qwen3", true, "Hermes")]
    [InlineData("hermes2-pro", true, "Hermes")]
    [InlineData("hermes3", true, "Hermes")]
    [InlineData("llama3.1", true, "Llama3")]
    [InlineData("llama3.2", true, "Llama3")]
    [InlineData("llama3.3", true, "Llama3")]
    [InlineData("mistral-nemo", true, "Mistral")]
    [InlineData("phi3.5", false, "Json")]
    [InlineData("gemma2", false, "Json")]
    public void ToolSupportAndCallStyleAreDetectedFromTheTemplate(string template, bool supports, string style)
    {
        var chat = Template(template);
        Assert.Equal(supports, ToolCalling.Supports(chat));
        Assert.Equal(style, ToolCalling.StyleOf(chat).ToString());
    }

    /// <summary>
    /// The golden's OpenAI-shaped messages as Microsoft.Extensions.AI messages: calls as <see cref="FunctionCallContent"/>, and
    /// consecutive tool results in one message (as <see cref="FunctionInvokingChatClient"/> sends them).
    /// </summary>
    private static List<ChatMessage> ToMeai(JsonElement messages)
    {
        var result = new List<ChatMessage>();
        foreach (var m in messages.EnumerateArray())
        {
            string role = m.GetProperty("role").GetString()!;
            string content = m.GetProperty("content").GetString()!;
            if (role == "tool")
            {
                var r = new FunctionResultContent(m.GetProperty("tool_call_id").GetString()!, content);
                if (result.Count > 0 && result[^1].Role == ChatRole.Tool) result[^1].Contents.Add(r);
                else result.Add(new ChatMessage(ChatRole.Tool, [r]));
                continue;
            }
            if (m.TryGetProperty("tool_calls", out var calls))
            {
                var parts = new List<AIContent>();
                if (content.Length > 0) parts.Add(new TextContent(content));
                foreach (var call in calls.EnumerateArray())
                {
                    var f = call.GetProperty("function");
                    var args = f.GetProperty("arguments").EnumerateObject().ToDictionary(p => p.Name, p => (object?)p.Value.Clone());
                    parts.Add(new FunctionCallContent(call.GetProperty("id").GetString()!, f.GetProperty("name").GetString()!, args));
                }
                result.Add(new ChatMessage(ChatRole.Assistant, parts));
                continue;
            }
            result.Add(new ChatMessage(new ChatRole(role), content));
        }
        return result;
    }
}
