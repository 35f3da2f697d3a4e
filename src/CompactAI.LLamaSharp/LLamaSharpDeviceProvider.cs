using CompactAI.Backends;
using LLama;
using LLama.Common;
using LLama.Exceptions;
using LLama.Native;

namespace CompactAI.LLamaSharp;

/// <summary>
/// llama.cpp as the core sees it (<see cref="IDeviceProvider"/>): found by name by <see cref="BackendSelector"/> when this assembly
/// is present, for <see cref="ComputeBackend.LLamaSharp"/> and for the files <see cref="ComputeBackend.Auto"/> does not run on
/// CompactAI's engine. Loading hands the file to llama.cpp (<see cref="LLamaWeights.LoadFromFile"/>), which maps and owns the
/// weights; CompactAI has read only the header, the tokenizer and the chat template.
/// </summary>
internal sealed class LLamaSharpDeviceProvider : IDeviceProvider
{
    public ComputeBackend Backend => ComputeBackend.LLamaSharp;

    public IDeviceModel Load(DeviceLoadRequest request)
    {
        string path = request.FilePath ?? throw new BackendUnavailableException(ComputeBackend.LLamaSharp, "the model was not loaded from a file.");
        EnsureNativeLibrary();
        var parameters = new ModelParams(path) { GpuLayerCount = 0, ContextSize = (uint)request.ContextSize };
        LLamaWeights weights;
        try
        {
            weights = LLamaWeights.LoadFromFile(parameters);
        }
        catch (LoadWeightsFailedException e)
        {
            throw new BackendUnavailableException(ComputeBackend.LLamaSharp, $"llama.cpp could not load '{Path.GetFileName(path)}' (its log says why).", e);
        }
        try
        {
            var c = request.Config;
            if (weights.Vocab.Count != c.VocabularySize)
                throw new BackendUnavailableException(ComputeBackend.LLamaSharp, $"llama.cpp reads {weights.Vocab.Count} tokens, the file's header {c.VocabularySize}.");
            if (weights.EmbeddingSize != c.EmbeddingLength)
                throw new BackendUnavailableException(ComputeBackend.LLamaSharp, $"llama.cpp reads an embedding length of {weights.EmbeddingSize}, the file's header {c.EmbeddingLength}.");
            return new LLamaSharpDeviceModel(weights, path, c, request.Threads);
        }
        catch
        {
            weights.Dispose();
            throw;
        }
    }

    private static readonly object s_gate = new();
    private static string? s_nativeError;
    private static bool s_nativeChecked;

    /// <summary>Loads llama.cpp's native library once per process; its absence is a <see cref="BackendUnavailableException"/>.</summary>
    private static void EnsureNativeLibrary()
    {
        lock (s_gate)
        {
            if (!s_nativeChecked)
            {
                s_nativeChecked = true;
                try
                {
                    NativeApi.llama_empty_call();
                }
                catch (Exception e) when (e is RuntimeError or DllNotFoundException or TypeInitializationException or EntryPointNotFoundException or BadImageFormatException)
                {
                    s_nativeError = $"llama.cpp's native library could not be loaded ({(e.InnerException ?? e).Message.TrimEnd('.')}); " +
                                    "reference a LLamaSharp runtime package such as LLamaSharp.Backend.Cpu 0.30.0.";
                }
            }
            if (s_nativeError is { } error) throw new BackendUnavailableException(ComputeBackend.LLamaSharp, error);
        }
    }
}
