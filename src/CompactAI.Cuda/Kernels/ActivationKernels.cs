using ILGPU;

namespace CompactAI.Cuda.Kernels;

/// <summary>
/// The element-wise steps: the gated FFN's gate = act(gate) ⊙ up (TensorMath.Silu; GELU as the CPU forward pass computes it,
/// TensorMath.GeluTanhAsGgml), the residual add, broadcast bias add and the logit soft-cap (TensorMath.Softcap).
/// </summary>
internal static class ActivationKernels
{
    /// <summary>gate[i] = SiLU(gate[i])·up[i].</summary>
    public static void SiluGate(Index1D i, ArrayView<float> gate, ArrayView<float> up)
    {
        float g = gate[i];
        gate[i] = g / (1.0f + DeviceMath.Exp(-g)) * up[i];
    }

    /// <summary>
    /// gate[i] = GELU_tanh(gate[i])·up[i] in ggml's CPU arithmetic (what the CPU engine reproduces): the input rounded to half, its
    /// GELU rounded to half; below −10 it is 0, from 10 up the input itself.
    /// </summary>
    public static void GeluGate(Index1D i, ArrayView<float> gate, ArrayView<float> up)
    {
        gate[i] = GeluAsGgml(gate[i]) * up[i];
    }

    /// <summary>One value of ggml's tabulated GELU (ggml_table_gelu_f16).</summary>
    public static float GeluAsGgml(float x)
    {
        if (x <= -10.0f) return 0.0f;
        if (x >= 10.0f) return x;
        const float sqrt2OverPi = 0.79788456080286535587989211986876f;
        float v = Dequant.RoundToHalf(x);
        return Dequant.RoundToHalf(0.5f * v * (1.0f + DeviceMath.Tanh(sqrt2OverPi * v * (1.0f + 0.044715f * v * v))));
    }

    /// <summary>x[i] += y[i].</summary>
    public static void Add(Index1D i, ArrayView<float> x, ArrayView<float> y) => x[i] += y[i];

    /// <summary>x[i] += bias[i mod width]: one bias row added to every token's row.</summary>
    public static void AddRows(Index1D i, ArrayView<float> x, ArrayView<float> bias, int width) => x[i] += bias[i % width];

    /// <summary>x[i] = cap·tanh(x[i]·inverse), inverse = 1/cap (as TensorMath.Softcap multiplies by the reciprocal).</summary>
    public static void Softcap(Index1D i, ArrayView<float> x, float cap, float inverse) => x[i] = cap * DeviceMath.Tanh(x[i] * inverse);
}
