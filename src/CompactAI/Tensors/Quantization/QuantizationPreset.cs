namespace CompactAI.Tensors.Quantization;

/// <summary>
/// The file types <see cref="ModelQuantizer"/> can produce, named and numbered as llama.cpp's <c>llama-quantize</c>
/// (<c>LLAMA_FTYPE_MOSTLY_*</c>). The base type goes to 2-D weight tensors; the *_S and *_M K-quant mixes give some tensors more
/// bits (see <see cref="ModelQuantizer"/>).
/// </summary>
public enum QuantizationPreset
{
    /// <summary>IEEE half precision (file type 1).</summary>
    F16,

    /// <summary>bfloat16 (file type 32).</summary>
    BF16,

    /// <summary>8-bit blocks of 32 (file type 7), about 8.5 bits per weight.</summary>
    Q8_0,

    /// <summary>4-bit symmetric blocks of 32 (file type 2), 4.5 bits per weight.</summary>
    Q4_0,

    /// <summary>4-bit blocks of 32 with a minimum (file type 3), 5 bits per weight.</summary>
    Q4_1,

    /// <summary>5-bit symmetric blocks of 32 (file type 8), 5.5 bits per weight.</summary>
    Q5_0,

    /// <summary>5-bit blocks of 32 with a minimum (file type 9), 6 bits per weight.</summary>
    Q5_1,

    /// <summary>Q4_K with Q6_K on half the attn_v / ffn_down layers and on the output (file type 15), about 4.8 bits per weight.</summary>
    Q4_K_M,

    /// <summary>Q4_K with Q5_K on the first attn_v and first-eighth ffn_down layers (file type 14), about 4.6 bits per weight.</summary>
    Q4_K_S,

    /// <summary>Q5_K with Q6_K on half the attn_v / ffn_down layers and on the output (file type 17), about 5.7 bits per weight.</summary>
    Q5_K_M,

    /// <summary>Q5_K throughout, Q6_K output (file type 16), about 5.5 bits per weight.</summary>
    Q5_K_S,

    /// <summary>Q6_K throughout (file type 18), about 6.6 bits per weight.</summary>
    Q6_K,
}

/// <summary>Options for <see cref="ModelQuantizer"/>; the defaults match <c>llama-quantize</c> without flags.</summary>
public sealed class QuantizationOptions
{
    /// <summary>
    /// Quantize every eligible tensor to the preset's base type, skipping the per-tensor mix rules (only the row-length
    /// fallbacks still apply), like <c>llama-quantize --pure</c>. Use it for bit-exact comparisons with llama.cpp.
    /// </summary>
    public bool Pure { get; init; }

    /// <summary>
    /// Allow tensors that are already block-quantized to be dequantized and quantized again (<c>--allow-requantize</c>);
    /// otherwise such a tensor that needs a different type is an error. F32, F16 and BF16 sources are always accepted.
    /// </summary>
    public bool AllowRequantize { get; init; }

    /// <summary>Threads used to quantize rows; null means <see cref="Environment.ProcessorCount"/>.</summary>
    public int? MaxDegreeOfParallelism { get; init; }
}
