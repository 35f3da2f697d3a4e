using System.Text.Json;
using CompactAI.Tests.Inference;

namespace CompactAI.Tests.Cli;

/// <summary><c>--lora PATH[:SCALE]</c> on generate and chat, and <c>compactai merge-lora</c>, against llama.cpp's adapter goldens.</summary>
public sealed class CliLoraTests
{
    private static (int[] Prompt, int[] Output) Golden(float scale)
    {
        using var doc = GoldenFiles.Load("stories260K.lora.json");
        var c = doc.RootElement.GetProperty("cases").EnumerateArray()
            .First(e => e.GetProperty("prompt").GetString() == "Once upon a time" && e.GetProperty("scale").GetSingle() == scale);
        return (c.GetProperty("prompt_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray(),
                c.GetProperty("output_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray());
    }

    private static int[] OutputIds(CliRunner.Result r)
    {
        Assert.True(r.ExitCode == 0, r.StdErr);
        using var doc = JsonDocument.Parse(r.LastLine);
        return doc.RootElement.GetProperty("output_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
    }

    [Theory]
    [InlineData(1f, "")]
    [InlineData(0.5f, ":0.5")]
    public void GenerateWithLora_MatchesLlamaCpp(float scale, string suffix)
    {
        var (_, output) = Golden(scale);
        var r = CliRunner.Run("generate", "--model", TestData.Stories260K, "--prompt", "Once upon a time", "--max-tokens", "48",
            "--temperature", "0", "--json", "--lora", LoraAdapterTests.AdapterPath + suffix);
        Assert.Equal(output, OutputIds(r));
    }

    [Fact]
    public void MergeLora_WritesAModelThatGivesTheAdapterTokens()
    {
        string path = Path.Combine(Path.GetTempPath(), $"compactai-cli-merged-{Guid.NewGuid():N}.gguf");
        try
        {
            var m = CliRunner.Run("merge-lora", TestData.Stories260K, LoraAdapterTests.AdapterPath, path);
            Assert.True(m.ExitCode == 0, m.StdErr);
            var r = CliRunner.Run("generate", "--model", path, "--prompt", "Once upon a time", "--max-tokens", "48", "--temperature", "0", "--json");
            Assert.Equal(Golden(1f).Output, OutputIds(r));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void MismatchedAdapter_IsAOneLineErrorNamingTheTensor()
    {
        var r = CliRunner.Run("generate", "--model", Path.Combine(TestData.SharedDir, "models", "TinyStories-656K-f32.gguf"), "--prompt", "Once",
            "--max-tokens", "2", "--lora", LoraAdapterTests.AdapterPath);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("blk.0.attn_k.weight", r.StdErr);
        Assert.Single(r.StdErr.TrimEnd().Split('\n'));
    }

    [Fact]
    public void MergeLora_WrongArguments_IsUsage()
    {
        Assert.Equal(2, CliRunner.Run("merge-lora", TestData.Stories260K).ExitCode);
    }
}
