namespace CompactAI.Chat;

/// <summary>The chat formats CompactAI can fall back to when a model file carries no <c>tokenizer.chat_template</c>.</summary>
public enum BuiltInChatTemplate
{
    /// <summary>ChatML (<c>&lt;|im_start|&gt;role\n...&lt;|im_end|&gt;</c>), used by Qwen, SmolLM and most fine-tunes.</summary>
    ChatML,

    /// <summary>Llama 3 (<c>&lt;|start_header_id|&gt;role&lt;|end_header_id|&gt;\n\n...&lt;|eot_id|&gt;</c>), Meta-Llama-3-Instruct's template.</summary>
    Llama3,

    /// <summary>Gemma (<c>&lt;start_of_turn&gt;user\n...&lt;end_of_turn&gt;</c>, assistant as <c>model</c>, system folded into the first user turn), Gemma 3's template.</summary>
    Gemma,

    /// <summary>Phi-3 (<c>&lt;|user|&gt;\n...&lt;|end|&gt;</c>), Phi-3.5-mini-instruct's template.</summary>
    Phi3,

    /// <summary>Zephyr (<c>&lt;|user|&gt;\n...&lt;/s&gt;</c>), as used by TinyLlama-Chat and zephyr-7b.</summary>
    Zephyr,
}
