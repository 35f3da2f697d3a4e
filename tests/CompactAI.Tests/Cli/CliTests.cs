using System.Text.Json;

namespace CompactAI.Tests.Cli;

/// <summary>The CLI contract scripts depend on: spellings, JSON last lines, exit codes, one-line errors.</summary>
public sealed class CliTests
{
    [Fact]
    public void GenerateJsonMatchesLlamaCppGreedyContinuation()
    {
        var golden = GoldenFiles.GreedyCases("stories260K.greedy.json")[0];
        var r = CliRunner.Run("generate", "--model", TestData.Stories260K, "--prompt", golden.Prompt,
            "--max-tokens", golden.OutputIds.Length.ToString(), "--temperature", "0", "--json");
        Assert.Equal(0, r.ExitCode);
        using var doc = JsonDocument.Parse(r.LastLine);
        Assert.Equal(golden.PromptIds, doc.RootElement.GetProperty("prompt_ids").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal(golden.OutputIds, doc.RootElement.GetProperty("output_ids").EnumerateArray().Select(e => e.GetInt32()));
        Assert.StartsWith(", there was a little girl named Lily.", doc.RootElement.GetProperty("text").GetString());
    }

    [Fact]
    public void GenerateWithoutJsonStreamsTheText()
    {
        var r = CliRunner.Run("generate", "--model", TestData.Stories260K, "--prompt", "Once upon a time", "--max-tokens", "12", "--temperature", "0");
        Assert.Equal(0, r.ExitCode);
        Assert.StartsWith(", there was a little girl named Lily", r.StdOut);
    }

    [Fact]
    public void TokenizeCasesPrintsLlamaCppsOutFormat()
    {
        string vocab = TestData.TokenizerVectors("ggml-vocab-llama-spm.gguf");
        var r = CliRunner.Run("tokenize", "--model", vocab, "--cases", vocab + ".inp");
        Assert.Equal(0, r.ExitCode);
        Assert.Equal(File.ReadAllText(vocab + ".out"), r.StdOut);
    }

    [Fact]
    public void InspectDescribesTheModel()
    {
        var r = CliRunner.Run("inspect", "--model", TestData.Stories260K);
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("architecture:  llama", r.StdOut);
        Assert.Contains("layers:        5, embedding 64", r.StdOut);
        Assert.Contains("heads 8 (kv 4)", r.StdOut);
        Assert.Contains("tokenizer:     llama, 512 tokens, bos 1 (added), eos 2", r.StdOut);
        Assert.Contains("llama.context_length = ", r.StdOut);
    }

    [Fact]
    public void BenchJsonReportsSpeeds()
    {
        var r = CliRunner.Run("bench", "--model", TestData.Stories260K, "--prompt-tokens", "16", "--gen-tokens", "8", "--repetitions", "1", "--threads", "1", "--json");
        Assert.Equal(0, r.ExitCode);
        using var doc = JsonDocument.Parse(r.LastLine);
        Assert.True(doc.RootElement.GetProperty("pp_tok_s").GetDouble() > 0);
        Assert.True(doc.RootElement.GetProperty("tg_tok_s").GetDouble() > 0);
        Assert.True(doc.RootElement.GetProperty("load_ms").GetDouble() > 0);
        foreach (var m in new[] { "pp", "tg" })
        {
            double min = doc.RootElement.GetProperty(m + "_min").GetDouble(), max = doc.RootElement.GetProperty(m + "_max").GetDouble();
            double median = doc.RootElement.GetProperty(m + "_tok_s").GetDouble();
            Assert.InRange(median, min, max);
        }
    }

    [Fact]
    public async Task ChatAnswersEachTurnAsTheChatClientDoes()
    {
        var r = CliRunner.RunWithInput("Once upon a time\nThe end\n", "chat", "--model", TestData.Stories260K, "--max-tokens", "12", "--temperature", "0");
        Assert.Equal(0, r.ExitCode);
        // The same conversation through the library's chat client gives the same two answers.
        using var model = CompactModel.Load(TestData.Stories260K, new CompactModelOptions { MaxParallelSequences = 1 });
        using var client = new CompactAI.Chat.CompactChatClient(model);
        var options = new Microsoft.Extensions.AI.ChatOptions { Temperature = 0, MaxOutputTokens = 12 };
        var history = new List<Microsoft.Extensions.AI.ChatMessage> { new(Microsoft.Extensions.AI.ChatRole.User, "Once upon a time") };
        var first = await client.GetResponseAsync(history, options);
        history.Add(new(Microsoft.Extensions.AI.ChatRole.Assistant, first.Text));
        history.Add(new(Microsoft.Extensions.AI.ChatRole.User, "The end"));
        var second = await client.GetResponseAsync(history, options);
        Assert.Equal(first.Text + "\n" + second.Text + "\n", r.StdOut);
    }

    [Fact]
    public void GenerateWithChatUsesTheChatTemplate()
    {
        var r = CliRunner.Run("generate", "--model", TestData.Stories260K, "--prompt", "Hi", "--chat", "--max-tokens", "3", "--temperature", "0", "--json");
        Assert.Equal(0, r.ExitCode);
        using var doc = JsonDocument.Parse(r.LastLine);
        using var model = CompactModel.Load(TestData.Stories260K);
        // stories260K has no template: the built-in ChatML fallback, as llama.cpp uses.
        var expected = model.Tokenizer.Encode("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", addSpecial: true, parseSpecial: true);
        Assert.Equal(expected, doc.RootElement.GetProperty("prompt_ids").EnumerateArray().Select(e => e.GetInt32()));
    }

    [Fact]
    public void ConfidenceJsonCarriesTheConfidenceSignalsAndText()
    {
        var r = CliRunner.Run("confidence", "--model", TestData.Stories260K, "--prompt", "Once upon a time", "--max-tokens", "12", "--json");
        Assert.Equal(0, r.ExitCode);
        using var doc = JsonDocument.Parse(r.LastLine);
        double confidence = doc.RootElement.GetProperty("confidence").GetDouble();
        Assert.InRange(confidence, 0, 1);
        var signals = doc.RootElement.GetProperty("signals");
        Assert.Equal(12, signals.GetProperty("tokens").GetInt32());
        Assert.True(signals.GetProperty("prompt_perplexity").GetDouble() >= 1);
        Assert.StartsWith(", there was a little girl", doc.RootElement.GetProperty("text").GetString());
    }

    [Fact]
    public void CalibratePrintsTheTradeOffCurveAndWritesTheThreshold()
    {
        string outPath = Path.Combine(Path.GetTempPath(), $"compactai-calibration-{Guid.NewGuid():N}.json");
        try
        {
            var r = CliRunner.Run("calibrate", "--model", TestData.Stories260K, "--data",
                Path.Combine(AppContext.BaseDirectory, "Hybrid", "Data", "routing-eval.jsonl"), "--max-tokens", "8", "--out", outPath);
            Assert.Equal(0, r.ExitCode);
            Assert.Contains("AUROC", r.StdOut);
            Assert.Contains("APGR: router", r.StdOut);
            Assert.Contains("remote calls for 50% of the gap", r.StdOut);
            var result = CompactAI.Hybrid.Calibration.CalibrationResult.FromJson(File.ReadAllText(outPath));
            Assert.StartsWith("stories260K.gguf:", result.ModelFingerprint);
            Assert.Equal(80, result.SampleCount);
            Assert.True(result.Auroc >= 0.95, $"AUROC {result.Auroc}");
        }
        finally
        {
            File.Delete(outPath);
        }
    }

    [Theory]
    [InlineData(1, "generate", "--model", "/nonexistent/model.gguf", "--prompt", "x")]
    [InlineData(2, "generate", "--model", "MODEL")]
    [InlineData(2, "generate", "--model", "MODEL", "--prompt", "x", "--max-tokens", "many")]
    [InlineData(2, "generate", "--model", "MODEL", "--prompt", "x", "--bogus", "1")]
    [InlineData(2, "frobnicate")]
    [InlineData(2)]
    [InlineData(1, "inspect", "--model", "GARBAGE")]
    [InlineData(1, "tokenize", "--model", "MODEL", "--cases", "/nonexistent/cases.inp")]
    public void ErrorsAreOneLineWithoutStackTrace(int exitCode, params string[] args)
    {
        string garbage = Path.Combine(Path.GetTempPath(), $"compactai-garbage-{Guid.NewGuid():N}.gguf");
        File.WriteAllBytes(garbage, "GGUF\u0003\0\0\0not really a model"u8.ToArray());
        try
        {
            var actual = args.Select(a => a == "MODEL" ? TestData.Stories260K : a == "GARBAGE" ? garbage : a).ToArray();
            var r = CliRunner.Run(actual);
            Assert.Equal(exitCode, r.ExitCode);
            Assert.DoesNotContain("   at ", r.StdErr);
            if (args.Length == 0)
            {
                Assert.StartsWith("usage: compactai", r.StdErr);
                return;
            }
            Assert.Single(r.StdErr.TrimEnd('\n').Split('\n'));
            Assert.StartsWith("compactai: ", r.StdErr);
        }
        finally
        {
            File.Delete(garbage);
        }
    }
}
