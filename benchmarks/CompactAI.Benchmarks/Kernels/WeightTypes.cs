using CompactAI.Tensors;

// One suite per weight type; the class name is the type name so that --filter '*<TYPE>*' selects it.

namespace CompactAI.Benchmarks.Kernels;

/// <summary>F32 weights (activations F32).</summary>
public class F32 : MatMulSuite { public override GgmlType WeightType => GgmlType.F32; }

/// <summary>F16 weights (activations F32).</summary>
public class F16 : MatMulSuite { public override GgmlType WeightType => GgmlType.F16; }

/// <summary>Q4_0 weights (activations Q8_0).</summary>
public class Q4_0 : MatMulSuite { public override GgmlType WeightType => GgmlType.Q4_0; }

/// <summary>Q4_1 weights (activations Q8_1).</summary>
public class Q4_1 : MatMulSuite { public override GgmlType WeightType => GgmlType.Q4_1; }

/// <summary>Q5_0 weights (activations Q8_0).</summary>
public class Q5_0 : MatMulSuite { public override GgmlType WeightType => GgmlType.Q5_0; }

/// <summary>Q5_1 weights (activations Q8_1).</summary>
public class Q5_1 : MatMulSuite { public override GgmlType WeightType => GgmlType.Q5_1; }

/// <summary>Q8_0 weights (activations Q8_0).</summary>
public class Q8_0 : MatMulSuite { public override GgmlType WeightType => GgmlType.Q8_0; }

/// <summary>Q2_K weights (activations Q8_K).</summary>
public class Q2_K : MatMulSuite { public override GgmlType WeightType => GgmlType.Q2_K; }

/// <summary>Q3_K weights (activations Q8_K).</summary>
public class Q3_K : MatMulSuite { public override GgmlType WeightType => GgmlType.Q3_K; }

/// <summary>Q4_K weights (activations Q8_K).</summary>
public class Q4_K : MatMulSuite { public override GgmlType WeightType => GgmlType.Q4_K; }

/// <summary>
/// Q4_K weights interleaved eight rows at a time, as the engine stores them for the native kernels
/// (<see cref="CompactAI.Tensors.Native.InterleavedQ4KFormat"/>); plain Q4_K when the native kernels are not in use.
/// </summary>
public unsafe class Q4_K_X8 : MatMulSuite
{
    public override GgmlType WeightType => GgmlType.Q4_K;

    private protected override WeightMatrix Layout(WeightMatrix mapped)
    {
        if (!CompactAI.Tensors.Native.InterleavedQ4KFormat.CanInterleave(mapped)) return mapped;
        LayoutCopy = (byte*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc((nuint)CompactAI.Tensors.Native.InterleavedQ4KFormat.ByteCount(mapped), 64);
        return CompactAI.Tensors.Native.InterleavedQ4KFormat.Interleave(mapped, LayoutCopy);
    }
}

/// <summary>Q5_K weights (activations Q8_K).</summary>
public class Q5_K : MatMulSuite { public override GgmlType WeightType => GgmlType.Q5_K; }

/// <summary>Q6_K weights (activations Q8_K).</summary>
public class Q6_K : MatMulSuite { public override GgmlType WeightType => GgmlType.Q6_K; }
