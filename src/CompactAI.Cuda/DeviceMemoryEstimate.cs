using CompactAI.Cuda.Kernels;
using CompactAI.Models;

namespace CompactAI.Cuda;

/// <summary>
/// Device bytes a model and its sessions take, computed from the shapes before anything is uploaded, so a model that does not
/// fit is refused with the numbers instead of failing half-way. It counts exactly what <see cref="DeviceWeights"/> and
/// <see cref="CudaTransformer"/> allocate (a test holds them to it).
/// </summary>
internal static class DeviceMemoryEstimate
{
    /// <summary>Weights of blocks [0, <paramref name="layers"/>), the token embedding, and the output norm and head when all blocks are on the device.</summary>
    public static unsafe long Weights(ModelConfig c, ModelWeights w, int layers)
    {
        long bytes = w.TokenEmbedding.RowBytes * w.TokenEmbedding.Rows;
        for (int l = 0; l < layers; l++)
        {
            var lw = w.Layers[l];
            foreach (var m in new[] { lw.Qkv, lw.Query, lw.Key, lw.Value, lw.Output, lw.Gate, lw.Up, lw.Down })
                if (m is { } matrix) bytes += matrix.RowBytes * matrix.Rows;
            foreach (var v in new[] { lw.AttentionNorm, lw.FfnNorm, lw.QueryBias, lw.KeyBias, lw.ValueBias, lw.QueryNorm, lw.KeyNorm, lw.PostAttentionNorm, lw.PostFfnNorm })
                if (v is not null) bytes += 4L * v.Length;
        }
        if (layers == c.BlockCount)
        {
            bytes += 4L * w.OutputNorm.Length;
            if (w.Output.Data != w.TokenEmbedding.Data) bytes += w.Output.RowBytes * w.Output.Rows;
        }
        return bytes;
    }

    /// <summary>One session's KV cache for the device's blocks.</summary>
    public static long KvCache(ModelConfig c, int layers, int contextSize) =>
        4L * layers * c.KvHeadCount * contextSize * (c.HeadDim + c.ValueDim);

    /// <summary>One session's RoPE tables, activation scratch (rows padded to whole tiles) and logits buffer.</summary>
    public static long Scratch(ModelConfig c, int contextSize, int maxBatch, bool outputOnDevice)
    {
        long rows = PaddedRows(maxBatch);
        long ropeTables = c.SlidingWindowLayers is null ? 1 : 2;
        long bytes = 4L * ropeTables * 2 * contextSize * (c.RopeDimensions / 2);
        bytes += 4L * maxBatch; // token ids
        bytes += 4L * rows * (3L * c.EmbeddingLength + (long)c.HeadCount * c.HeadDim + (long)c.KvHeadCount * c.HeadDim
                              + (long)c.KvHeadCount * c.ValueDim + (long)c.HeadCount * c.ValueDim + 2L * c.FeedForwardLength);
        if (outputOnDevice) bytes += 4L * MatMulKernels.Tile * c.VocabularySize;
        return bytes;
    }

    /// <summary>Activation rows for a batch of <paramref name="maxBatch"/>: whole tiles of the matrix–matrix kernel.</summary>
    public static int PaddedRows(int maxBatch) => (maxBatch + MatMulKernels.Tile - 1) / MatMulKernels.Tile * MatMulKernels.Tile;
}
