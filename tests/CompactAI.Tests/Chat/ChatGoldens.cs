using System.Text.Json;

namespace CompactAI.Tests.Chat;

/// <summary>Loads Goldens/chat-templates.json, chat-builtin-templates.json and chat-renderings.json (made by reference/make-chat-goldens.mjs).</summary>
public static class ChatGoldens
{
    /// <summary>One rendering by @huggingface/jinja: either the expected output or the error it raised.</summary>
    public sealed record Case(string Kind, string Template, string Name, bool AddGenerationPrompt, string BosToken, string EosToken,
        JsonElement Messages, JsonElement Extra, string? Output, string? Error)
    {
        public override string ToString() => $"{Kind}:{Template}/{Name}/gen={AddGenerationPrompt}";
    }

    public static DateTimeOffset FixedNow => DateTimeOffset.Parse(Renderings.RootElement.GetProperty("fixed_now").GetString()!, System.Globalization.CultureInfo.InvariantCulture);

    private static readonly Lazy<JsonDocument> RenderingsDoc = new(() => GoldenFiles.Load("chat-renderings.json"));
    private static JsonDocument Renderings => RenderingsDoc.Value;

    public static IReadOnlyDictionary<string, string> Sources(string file = "chat-templates.json")
    {
        using var doc = GoldenFiles.Load(file);
        return doc.RootElement.GetProperty("templates").EnumerateArray()
            .ToDictionary(t => t.GetProperty("name").GetString()!, t => t.GetProperty("source").GetString()!);
    }

    public static IReadOnlyList<Case> Cases() => Renderings.RootElement.GetProperty("cases").EnumerateArray().Select(c => new Case(
        c.GetProperty("kind").GetString()!,
        c.GetProperty("template").GetString()!,
        c.GetProperty("name").GetString()!,
        c.GetProperty("add_generation_prompt").GetBoolean(),
        c.GetProperty("bos_token").GetString()!,
        c.GetProperty("eos_token").GetString()!,
        c.GetProperty("messages").Clone(),
        c.GetProperty("extra").Clone(),
        c.TryGetProperty("output", out var o) ? o.GetString() : null,
        c.TryGetProperty("error", out var e) ? e.GetString() : null)).ToList();

    public static TheoryData<string> CaseIds()
    {
        var data = new TheoryData<string>();
        foreach (var c in Cases()) data.Add(c.ToString());
        return data;
    }

    public static Case Find(string id) => Cases().Single(c => c.ToString() == id);

    /// <summary>A clock pinned to the instant the goldens were rendered at, in UTC.</summary>
    public sealed class FixedClock(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;

        public override TimeZoneInfo LocalTimeZone => TimeZoneInfo.Utc;
    }
}
