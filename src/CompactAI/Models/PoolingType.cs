namespace CompactAI.Models;

/// <summary>
/// How an encoder model's per-token vectors become one embedding: GGUF <c>{arch}.pooling_type</c>, with llama.cpp's numbering.
/// </summary>
public enum PoolingType
{
    /// <summary>No pooling: one vector per token (<see cref="Chat.CompactEmbeddingGenerator.GenerateTokenEmbeddingsAsync"/>).</summary>
    None = 0,
    /// <summary>The mean of the sequence's token vectors, [CLS] and [SEP] included (sentence-transformers models such as MiniLM).</summary>
    Mean = 1,
    /// <summary>The vector of the first token, [CLS] (BGE, arctic-embed).</summary>
    Cls = 2,
    /// <summary>The vector of the last token.</summary>
    Last = 3,
}
