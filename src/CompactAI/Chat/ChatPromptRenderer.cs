using System.Text;
using Microsoft.Extensions.AI;

namespace CompactAI.Chat;

/// <summary>Turns a conversation into the prompt text a model was trained on.</summary>
internal interface IChatPromptRenderer
{
    /// <summary>The prompt for <paramref name="messages"/>, ending with the assistant's turn header when <paramref name="addGenerationPrompt"/>.</summary>
    string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt);
}

/// <summary>Chooses the renderer for a model.</summary>
internal static class ChatPromptRenderer
{
    public static IChatPromptRenderer For(CompactModel model) => new ChatMLRenderer();

    /// <summary>ChatML (<c>&lt;|im_start|&gt;role\ncontent&lt;|im_end|&gt;\n</c>): llama.cpp's fallback when a model has no template.</summary>
    private sealed class ChatMLRenderer : IChatPromptRenderer
    {
        public string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt)
        {
            var sb = new StringBuilder();
            foreach (var m in messages) sb.Append("<|im_start|>").Append(m.Role.Value).Append('\n').Append(m.Text).Append("<|im_end|>\n");
            if (addGenerationPrompt) sb.Append("<|im_start|>assistant\n");
            return sb.ToString();
        }
    }
}
