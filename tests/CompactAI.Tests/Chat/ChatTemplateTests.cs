using CompactAI.Chat;
using CompactAI.Gguf;

namespace CompactAI.Tests.Chat;

/// <summary>ChatTemplate's loading from GGUF metadata, fallbacks, special tokens, clock and argument handling.</summary>
public sealed class ChatTemplateTests
{
    private static readonly string[] Vocabulary = { "<unk>", "<s>", "</s>", "<pad>", "hello" };

    private static GgufFile Gguf(params (string Key, object Value)[] entries)
    {
        var w = new GgufWriter();
        foreach (var (key, value) in entries)
        {
            switch (value)
            {
                case string s: w.Add(key, s); break;
                case string[] a: w.Add(key, a); break;
                case uint u: w.Add(key, u); break;
                default: throw new ArgumentException(key);
            }
        }
        using var ms = new MemoryStream();
        w.WriteTo(ms);
        return GgufFile.FromBytes(ms.ToArray());
    }

    private static readonly ChatTurn[] Conversation = { new("system", "Be brief."), new("user", "Hi") };

    [Fact]
    public void FromGguf_reads_template_and_special_tokens()
    {
        using var file = Gguf(
            ("general.architecture", "llama"),
            ("tokenizer.ggml.tokens", Vocabulary),
            ("tokenizer.ggml.bos_token_id", 1u),
            ("tokenizer.ggml.eos_token_id", 2u),
            ("tokenizer.ggml.padding_token_id", 3u),
            ("tokenizer.chat_template", "{{ bos_token }}{% for m in messages %}[{{ m.role }}:{{ m.content }}]{% endfor %}{{ eos_token }}{{ pad_token }}{% if add_generation_prompt %}>{% endif %}"),
            ("tokenizer.chat_template.tool_use", "tools={{ tools|tojson }}"));

        var template = ChatTemplate.FromGguf(file);
        Assert.False(template.IsFallback);
        Assert.Null(template.Name);
        Assert.Equal("<s>", template.BosToken);
        Assert.Equal("</s>", template.EosToken);
        Assert.Equal("<s>[system:Be brief.][user:Hi]</s><pad>>", template.Render(Conversation, addGenerationPrompt: true));
        Assert.Equal("<s>[system:Be brief.][user:Hi]</s><pad>", template.Render(Conversation, addGenerationPrompt: false));

        Assert.Equal(new[] { "tool_use" }, ChatTemplate.GetTemplateNames(file.Metadata));
        var toolUse = ChatTemplate.FromModelMetadata(file.Metadata, "tool_use");
        Assert.Equal("tool_use", toolUse.Name);
        Assert.Equal("tools=null", toolUse.Render(Conversation, false));
        Assert.Equal("tools=[{\"name\": \"f\"}]", toolUse.Render(Conversation, false,
            new Dictionary<string, object?> { ["tools"] = new[] { new Dictionary<string, object?> { ["name"] = "f" } } }));

        var missing = Assert.Throws<ChatTemplateException>(() => ChatTemplate.FromModelMetadata(file.Metadata, "rag"));
        Assert.Contains("'rag'", missing.Message);
        Assert.Contains("tool_use", missing.Message);
    }

    [Fact]
    public void Real_gguf_without_a_template_gets_a_fallback_with_its_special_tokens()
    {
        using var file = GgufFile.Open(TestData.Stories260K);
        var template = ChatTemplate.FromGguf(file);
        Assert.True(template.IsFallback);
        Assert.Equal(BuiltInChatTemplate.ChatML, template.BuiltIn);
        Assert.Equal("<s>", template.BosToken); // token 1 in llama.cpp
        Assert.Equal("</s>", template.EosToken); // token 2
        Assert.Equal("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", template.Render(new[] { new ChatTurn("user", "Hi") }, true));
    }

    [Theory]
    [InlineData("gemma3", null, null, BuiltInChatTemplate.Gemma)]
    [InlineData("gemma2", null, null, BuiltInChatTemplate.Gemma)]
    [InlineData("phi3", null, null, BuiltInChatTemplate.Phi3)]
    [InlineData("qwen2", "<|im_start|>", null, BuiltInChatTemplate.ChatML)]
    [InlineData("qwen3", null, null, BuiltInChatTemplate.ChatML)]
    [InlineData("llama", "<|start_header_id|>", null, BuiltInChatTemplate.Llama3)]
    [InlineData("llama", null, "Meta-Llama-3-8B-Instruct", BuiltInChatTemplate.Llama3)]
    [InlineData("llama", null, "TinyLlama-1.1B-Chat-v1.0", BuiltInChatTemplate.Zephyr)]
    [InlineData("llama", "<|im_start|>", "SmolLM2-135M-Instruct", BuiltInChatTemplate.ChatML)]
    [InlineData("llama", null, "stories260K", BuiltInChatTemplate.ChatML)]
    public void Missing_template_falls_back_by_architecture_tokens_and_name(string arch, string? specialToken, string? name, BuiltInChatTemplate expected)
    {
        var entries = new List<(string, object)>
        {
            ("general.architecture", arch),
            ("tokenizer.ggml.tokens", specialToken is null ? Vocabulary : Vocabulary.Append(specialToken).ToArray()),
            ("tokenizer.ggml.bos_token_id", 1u),
            ("tokenizer.ggml.eos_token_id", 2u),
        };
        if (name is not null) entries.Add(("general.name", name));
        using var file = Gguf(entries.ToArray());

        var template = ChatTemplate.FromModelMetadata(file.Metadata);
        Assert.True(template.IsFallback);
        Assert.Equal(expected, template.BuiltIn);
        Assert.Equal(expected, ChatTemplate.ChooseBuiltIn(file.Metadata));
        Assert.Equal(BuiltInChatTemplates.SourceOf(expected), template.Source);
        Assert.NotEmpty(template.Render(Conversation, true));
    }

    [Fact]
    public void Built_in_formats_render_their_canonical_prompts()
    {
        var turns = new[] { new ChatTurn("user", "Hi"), new ChatTurn("assistant", "Hello"), new ChatTurn("user", "Bye") };
        Assert.Equal("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n",
            ChatTemplate.FromBuiltIn(BuiltInChatTemplate.ChatML).Render(turns, true));
        Assert.Equal("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello<|eot_id|>"
            + "<|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
            ChatTemplate.FromBuiltIn(BuiltInChatTemplate.Llama3, "<|begin_of_text|>", "<|eot_id|>").Render(turns, true));
        Assert.Equal("<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\nHello<end_of_turn>\n<start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\n",
            ChatTemplate.FromBuiltIn(BuiltInChatTemplate.Gemma, "<bos>", "<eos>").Render(turns, true));
        Assert.Equal("<|user|>\nHi<|end|>\n<|assistant|>\nHello<|end|>\n<|user|>\nBye<|end|>\n<|assistant|>\n",
            ChatTemplate.FromBuiltIn(BuiltInChatTemplate.Phi3).Render(turns, true));
        Assert.Equal("<|user|>\nHi</s>\n<|assistant|>\nHello</s>\n<|user|>\nBye</s>\n<|assistant|>\n",
            ChatTemplate.FromBuiltIn(BuiltInChatTemplate.Zephyr, "<s>", "</s>").Render(turns, true));
    }

    [Fact]
    public void Strftime_now_uses_a_fixed_clock_by_default_and_an_injected_one_when_given()
    {
        string llama32 = ChatGoldens.Sources()["llama3.2"];
        var turns = new[] { new ChatTurn("user", "Hi") };
        Assert.Contains("Today Date: 26 Jul 2024\n", ChatTemplate.Parse(llama32).Render(turns, true));

        var clock = new ChatGoldens.FixedClock(new DateTimeOffset(2031, 12, 5, 23, 59, 0, TimeSpan.Zero));
        Assert.Contains("Today Date: 05 Dec 2031\n", ChatTemplate.Parse(llama32, options: new ChatTemplateOptions { Clock = clock }).Render(turns, true));
        Assert.Equal("2031-12-05 23:59 Dec December Fri 5",
            ChatTemplate.Parse("{{ strftime_now('%Y-%m-%d %H:%M %b %B %a %-d') }}", options: new ChatTemplateOptions { Clock = clock }).Render(turns, false));
    }

    [Fact]
    public void Raise_exception_surfaces_as_ChatTemplateException_with_the_template_message()
    {
        var gemma2 = ChatTemplate.Parse(ChatGoldens.Sources()["gemma2"], "<bos>", "<eos>");
        var e = Assert.Throws<ChatTemplateException>(() => gemma2.Render(Conversation, true));
        Assert.True(e.RaisedByTemplate);
        Assert.Equal("System role not supported", e.Reason);
        Assert.Equal(1, e.Line);
        Assert.Contains("System role not supported", e.Message);

        var mistral = ChatTemplate.Parse(ChatGoldens.Sources()["mistral"], "<s>", "</s>");
        var alternate = Assert.Throws<ChatTemplateException>(() => mistral.Render(new[] { new ChatTurn("user", "a"), new ChatTurn("user", "b") }, false));
        Assert.Equal("Conversation roles must alternate user/assistant/user/assistant/...", alternate.Reason);
    }

    [Fact]
    public void Generation_markers_render_their_body()
    {
        // transformers' {% generation %} block marks assistant text for training masks; it renders as its body.
        Assert.Equal("a b c", ChatTemplate.Parse("a {%- generation %} b {% endgeneration -%} c").Render(Array.Empty<ChatTurn>(), false));
        Assert.Equal("xyz", ChatTemplate.Parse("x{% generation %}y{% endgeneration %}z").Render(Array.Empty<ChatTurn>(), false));
    }

    [Fact]
    public void Render_validates_its_arguments()
    {
        var template = ChatTemplate.FromBuiltIn(BuiltInChatTemplate.ChatML);
        Assert.Throws<ArgumentNullException>(() => template.Render((IReadOnlyList<ChatTurn>)null!, true));
        Assert.Throws<ArgumentException>(() => template.Render(new[] { new ChatTurn("user", null!) }, true));
        Assert.Throws<ArgumentException>(() => template.Render(Conversation, true, new Dictionary<string, object?> { ["x"] = new object() }));
        Assert.Throws<ArgumentNullException>(() => ChatTemplate.Parse(null!));
        Assert.Throws<ArgumentOutOfRangeException>(() => ChatTemplate.Parse("x", options: new ChatTemplateOptions { MaxSteps = 0 }));
    }

    [Fact]
    public void Extra_values_of_common_clr_types_are_converted()
    {
        var template = ChatTemplate.Parse("{{ i }} {{ f }} {{ b }} {{ n }} {{ list }} {{ map }} {{ turn.role }} {{ i + 1 }}");
        var extra = new Dictionary<string, object?>
        {
            ["i"] = 41, ["f"] = 0.5f, ["b"] = true, ["n"] = null, ["list"] = new List<string> { "a" },
            ["map"] = new Dictionary<string, int> { ["k"] = 1 }, ["turn"] = new ChatTurn("user", "x"),
        };
        Assert.Equal("41 0.5 True None ['a'] {'k': 1} user 42", template.Render(Array.Empty<ChatTurn>(), false, extra));
    }
}
