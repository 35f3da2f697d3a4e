using ILGPU;

namespace CompactAI.Cuda.Kernels;

/// <summary>The gated FFN's element-wise step, gate = act(gate) ⊙ up (TensorMath.Silu / TensorMath.GeluTanh), and the residual add.</summary>
internal static class ActivationKernels
{
    /// <summary>gate[i] = SiLU(gate[i])·up[i].</summary>
    public static void SiluGate(Index1D i, ArrayView<float> gate, ArrayView<float> up)
    {
        float g = gate[i];
        gate[i] = g / (1.0f + DeviceMath.Exp(-g)) * up[i];
    }

    /// <summary>gate[i] = GELU_tanh(gate[i])·up[i].</summary>
    public static void GeluGate(Index1D i, ArrayView<float> gate, ArrayView<float> up)
    {
        const float sqrt2OverPi = 0.79788456080286535587989211986876f;
        float g = gate[i];
        gate[i] = 0.5f * g * (1.0f + DeviceMath.Tanh(sqrt2OverPi * g * (1.0f + 0.044715f * g * g))) * up[i];
    }

    /// <summary>x[i] += y[i].</summary>
    public static void Add(Index1D i, ArrayView<float> x, ArrayView<float> y) => x[i] += y[i];
}
