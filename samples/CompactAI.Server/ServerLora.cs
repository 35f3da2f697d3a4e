using System.Runtime.CompilerServices;
using System.Text.Json;

namespace CompactAI.Server;

/// <summary>
/// LoRA adapters as llama-server offers them: the files of <see cref="OpenAIServerOptions.Lora"/> (<c>--lora PATH[,PATH…]</c>)
/// are loaded once for the served model and numbered 0, 1, … in that order; every request applies them at scale 1 unless its
/// body says otherwise with <c>"lora": [{"id": 0, "scale": 0.5}, …]</c> (ids not listed keep scale 1, scale 0 turns one off).
/// <c>GET /lora-adapters</c> lists them as <c>[{"id", "path", "scale"}]</c>.
/// </summary>
internal static class ServerLora
{
    private static readonly ConditionalWeakTable<CompactModel, LoraAdapter[]> s_loaded = new();
    private static readonly Lock s_lock = new();

    /// <summary>The configured adapters, loaded for <paramref name="model"/> on first use.</summary>
    public static IReadOnlyList<LoraAdapter> Loaded(CompactModel model, OpenAIServerOptions options)
    {
        if (string.IsNullOrWhiteSpace(options.Lora)) return [];
        lock (s_lock)
        {
            if (s_loaded.TryGetValue(model, out var loaded)) return loaded;
            try
            {
                loaded = options.Lora.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(model.LoadAdapter).ToArray();
            }
            catch (Exception e) when (e is FormatException or IOException or NotSupportedException or UnauthorizedAccessException)
            {
                throw new OpenAIException(StatusCodes.Status500InternalServerError, $"The server's LoRA adapters cannot be loaded: {e.Message}", "server_error", "lora_load_failed");
            }
            s_loaded.Add(model, loaded);
            return loaded;
        }
    }

    /// <summary>The adapters and scales one request runs with: all loaded ones at 1, changed by its <c>lora</c> field.</summary>
    public static ScaledLoraAdapter[] ForRequest(JsonElement root, IReadOnlyList<LoraAdapter> loaded)
    {
        var scales = Enumerable.Repeat(1f, loaded.Count).ToArray();
        if (root.TryGetProperty("lora", out var lora) && lora.ValueKind != JsonValueKind.Null)
        {
            if (lora.ValueKind != JsonValueKind.Array) throw OpenAIException.Invalid("'lora' must be an array of {\"id\", \"scale\"} objects.", "lora", "invalid_type");
            foreach (var item in lora.EnumerateArray())
            {
                if (item.ValueKind != JsonValueKind.Object) throw OpenAIException.Invalid("'lora' must be an array of {\"id\", \"scale\"} objects.", "lora", "invalid_type");
                int id = Json.Int(item, "id", 0, int.MaxValue) ?? throw OpenAIException.Invalid("Each 'lora' entry needs an 'id'.", "lora");
                if (id >= loaded.Count)
                    throw OpenAIException.Invalid($"LoRA adapter id {id} does not exist; this server has {loaded.Count} (see GET /lora-adapters).", "lora");
                scales[id] = Json.Float(item, "scale", -100f, 100f) ?? throw OpenAIException.Invalid("Each 'lora' entry needs a 'scale'.", "lora");
            }
        }
        return loaded.Select((a, i) => a.WithScale(scales[i])).ToArray();
    }

    /// <summary><c>GET /lora-adapters</c>.</summary>
    public static object List(IReadOnlyList<LoraAdapter> loaded) =>
        loaded.Select((a, i) => new { id = i, path = a.FilePath, scale = 1f }).ToArray();
}
