using System.Numerics.Tensors;
using CompactAI.Tensors;
using CompactAI.Threading;

namespace CompactAI.Models;

/// <summary>
/// The gated FFN's element-wise step, gate = act(gate) ⊙ up (act = SiLU or ggml's tanh GELU), spread over the worker
/// pool in fixed slices of elements: on one thread it was the largest serial step of a prompt between two matmuls.
/// Each element is computed exactly as the single-threaded loop computes it.
/// </summary>
internal sealed class GatedActivation(FfnActivation activation, WorkerPool pool) : IParallelJob
{
    /// <summary>Elements per work item: large enough that dispatch costs stay small.</summary>
    private const int Slice = 4096;

    private float[] _gate = [], _up = [];
    private int _count;

    /// <summary>gate[i] = act(gate[i])·up[i] for i &lt; <paramref name="count"/>.</summary>
    public void Run(float[] gate, float[] up, int count)
    {
        _gate = gate;
        _up = up;
        _count = count;
        pool.Run(this, (count + Slice - 1) / Slice);
        _gate = _up = [];
    }

    public void Execute(int start, int end)
    {
        int from = start * Slice, to = Math.Min(_count, end * Slice);
        var gate = _gate.AsSpan(from, to - from);
        if (activation == FfnActivation.Silu) TensorMath.Silu(gate, gate);
        else TensorMath.GeluTanhAsGgml(gate);
        TensorPrimitives.Multiply(gate, _up.AsSpan(from, to - from), gate);
    }
}
