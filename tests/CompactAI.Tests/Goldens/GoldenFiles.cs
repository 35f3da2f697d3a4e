using System.Text.Json;

namespace CompactAI.Tests;

/// <summary>Loads the llama.cpp goldens in <c>Goldens/</c> (see Goldens/README.md for how each was made).</summary>
public static class GoldenFiles
{
    public static string PathOf(string name) => Path.Combine(AppContext.BaseDirectory, "Goldens", name);

    public static JsonDocument Load(string name) => JsonDocument.Parse(File.ReadAllText(PathOf(name)));

    /// <summary>One case of <c>stories260K.greedy.json</c>.</summary>
    public sealed record GreedyCase(string Prompt, int[] PromptIds, int[] OutputIds, string Text, (int Id, double P)[] Top5, float[]? LogitsFirst)
    {
        public override string ToString() => Prompt;
    }

    public static IReadOnlyList<GreedyCase> GreedyCases(string file, string arrayName = "cases")
    {
        using var doc = Load(file);
        return ReadCases(doc.RootElement.GetProperty(arrayName));
    }

    public static IReadOnlyList<GreedyCase> ReadCases(JsonElement cases)
    {
        var result = new List<GreedyCase>();
        foreach (var c in cases.EnumerateArray())
        {
            result.Add(new GreedyCase(
                c.GetProperty("prompt").GetString()!,
                c.GetProperty("prompt_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray(),
                c.GetProperty("output_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray(),
                c.TryGetProperty("text", out var t) ? t.GetString()! : "",
                c.GetProperty("top5").EnumerateArray().Select(e => (e.GetProperty("id").GetInt32(), e.GetProperty("p").GetDouble())).ToArray(),
                c.TryGetProperty("logits_first", out var l) ? l.EnumerateArray().Select(e => e.GetSingle()).ToArray() : null));
        }
        return result;
    }
}
