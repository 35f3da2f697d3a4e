using CompactAI.Models.Synthetic;
using CompactAI.Tensors.Quantization;

namespace CompactAI.Tests.Models;

/// <summary><see cref="CompactModel.LoadAsync(string, CompactModelOptions?, IProgress{float}?, CancellationToken)"/>: real progress and cancellation.</summary>
public sealed class LoadProgressTests
{
    private static readonly CompactModelOptions s_options = new() { Threads = 1, ContextSize = 64, Backend = ComputeBackend.Cpu };

    [Fact]
    public async Task Progress_RisesFromZeroToOne_ThroughTheLoadSteps()
    {
        var progress = new RecordingProgress();
        using var model = await CompactModel.LoadAsync(TestData.Stories260K, s_options, progress);
        float[] v = progress.Values;
        Assert.Equal(0f, v[0]);
        Assert.Equal(1f, v[^1]);
        for (int i = 1; i < v.Length; i++) Assert.True(v[i] >= v[i - 1], $"progress went down: {string.Join(", ", v)}");
        // Mapped, tokenizer, weights and backend each report a value strictly between 0 and 1.
        Assert.True(v.Count(x => x is > 0 and < 1) >= 4, string.Join(", ", v));
    }

    [Fact]
    public async Task Progress_CountsTheInterleavedLayers_WhenTheNativeKernelsCopyThem()
    {
        string dir = Directory.CreateTempSubdirectory("compactai-progress-").FullName;
        try
        {
            string path = Path.Combine(dir, "small-llama-q4_k_m.gguf");
            SyntheticModel.Write(ModelShape.For("small-llama"), QuantizationPreset.Q4_K_M, TestData.TokenizerVectors("ggml-vocab-gpt-2.gguf"), path, seed: 4);
            var progress = new RecordingProgress();
            using var model = await CompactModel.LoadAsync(path, s_options with { CpuKernels = CpuKernels.Auto, InterleaveWeights = true }, progress);
            float[] v = progress.Values;
            for (int i = 1; i < v.Length; i++) Assert.True(v[i] >= v[i - 1], $"progress went down: {string.Join(", ", v)}");
            int steps = v.Count(x => x is > 0.4f and < 1f);
            // One report per interleaved layer but the last (which reports 1), when the native kernels interleave.
            if (model.Weights.Layers.Any(l => l.Up.Format.RowGroup == 8)) Assert.Equal(model.Config.BlockCount - 1, steps);
            else Assert.Equal(0, steps);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task Cancellation_BeforeTheLoad_Throws()
    {
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => CompactModel.LoadAsync(TestData.Stories260K, s_options, null, cts.Token));
    }

    [Theory]
    [InlineData(0.05f)]
    [InlineData(0.15f)]
    [InlineData(0.25f)]
    public async Task Cancellation_DuringTheLoad_StopsIt_AndTheFileLoadsAgainAfterwards(float at)
    {
        using var cts = new CancellationTokenSource();
        var progress = new RecordingProgress(v => { if (v >= at) cts.Cancel(); });
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => CompactModel.LoadAsync(TestData.Stories260K, s_options, progress, cts.Token));
        Assert.DoesNotContain(1f, progress.Values);
        using var model = await CompactModel.LoadAsync(TestData.Stories260K, s_options);
        Assert.Equal(s_options.ContextSize, model.Sessions.ContextSize);
    }

    /// <summary>Records progress synchronously (<see cref="Progress{T}"/> would post to the thread pool).</summary>
    internal sealed class RecordingProgress(Action<float>? onReport = null) : IProgress<float>
    {
        private readonly List<float> _values = [];

        public float[] Values
        {
            get { lock (_values) return _values.ToArray(); }
        }

        public void Report(float value)
        {
            lock (_values) _values.Add(value);
            onReport?.Invoke(value);
        }
    }
}
