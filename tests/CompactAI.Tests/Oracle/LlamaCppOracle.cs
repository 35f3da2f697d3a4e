using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using LLama;
using LLama.Common;
using LLama.Native;

namespace CompactAI.Tests.Oracle;

/// <summary>
/// llama.cpp in this process, through LLamaSharp 0.30.0 (LLamaSharp.Backend.Cpu: prebuilt CPU libraries, the variant
/// chosen at run time from the CPU's features), as a reference at test time. Every call evaluates tokens one per decode,
/// so ggml runs its matrix–vector kernels (for 4+ rows at once its CPU backend switches some types to repacked GEMM
/// kernels whose sums are ordered differently; our engine reproduces the matrix–vector path).
/// </summary>
internal sealed partial class LlamaCppOracle : IDisposable
{
    private static readonly object s_gate = new();
    private static readonly List<string> s_loadLog = [];
    private static bool s_configured;

    private readonly LLamaWeights _weights;
    private readonly ModelParams _params;

    private LlamaCppOracle(string path, int contextSize)
    {
        _params = new ModelParams(path) { ContextSize = (uint)contextSize, Threads = 2, BatchThreads = 2, GpuLayerCount = 0, BatchSize = 512, UBatchSize = 512 };
        _weights = LLamaWeights.LoadFromFile(_params);
    }

    /// <summary>Loads <paramref name="path"/> into llama.cpp (the native library is loaded and its log captured on first use).</summary>
    public static LlamaCppOracle Load(string path, int contextSize = 512)
    {
        Configure();
        return new LlamaCppOracle(path, contextSize);
    }

    /// <summary>The native library's load lines ("Successfully loaded '…/avx2/libllama.so'", …) as LLamaSharp logged them.</summary>
    public static IReadOnlyList<string> LoadLog
    {
        get { lock (s_gate) return s_loadLog.ToArray(); }
    }

    /// <summary>The CPU variant of libllama that LLamaSharp loaded (noavx, avx, avx2 or avx512), from its log.</summary>
    public static string LoadedVariant
    {
        get
        {
            Configure();
            foreach (var line in LoadLog)
                if (LibLlamaPath().Match(line) is { Success: true } m) return m.Groups[1].Value;
            return "unknown";
        }
    }

    /// <summary>ggml's version and commit compiled into the loaded libraries (<c>ggml_version()</c>, <c>ggml_commit()</c>).</summary>
    public static string GgmlBuild
    {
        get
        {
            Configure();
            // LLamaSharp loads the libraries by full path; take ggml-base's from its log and ask that same handle.
            string? path = LoadLog.Select(l => GgmlBasePath().Match(l)).FirstOrDefault(m => m.Success)?.Groups[1].Value;
            if (path is null) return "ggml (library path not logged)";
            var handle = NativeLibrary.Load(path);
            unsafe
            {
                var version = (delegate* unmanaged<IntPtr>)NativeLibrary.GetExport(handle, "ggml_version");
                var commit = (delegate* unmanaged<IntPtr>)NativeLibrary.GetExport(handle, "ggml_commit");
                return $"ggml {Marshal.PtrToStringAnsi(version())} (commit {Marshal.PtrToStringAnsi(commit())})";
            }
        }
    }

    /// <summary>The CPU features the loaded ggml was built with (<c>llama_print_system_info</c>).</summary>
    public static string SystemInfo
    {
        get
        {
            Configure();
            return Marshal.PtrToStringAnsi(NativeApi.llama_print_system_info()) ?? "";
        }
    }

    /// <summary>llama.cpp's tokenization of <paramref name="text"/> (BOS as the vocabulary says, special tokens as text).</summary>
    public int[] Tokenize(string text) =>
        _weights.Tokenize(text, add_bos: true, special: false, System.Text.Encoding.UTF8).Select(t => (int)t).ToArray();

    /// <summary>The raw logits after <paramref name="tokens"/>, each token its own decode.</summary>
    public float[] NextTokenLogits(IReadOnlyList<int> tokens)
    {
        using var context = _weights.CreateContext(_params);
        var batch = new LLamaBatch();
        float[]? logits = null;
        for (int i = 0; i < tokens.Count; i++) logits = Decode(context, batch, tokens[i], i);
        return logits ?? throw new ArgumentException("No tokens.", nameof(tokens));
    }

    /// <summary>
    /// <paramref name="count"/> greedy tokens after <paramref name="prompt"/> (argmax of the raw logits, lowest id on ties, each fed
    /// back, no end-of-sequence stop), and at each step the gap between the best and the second-best logit.
    /// </summary>
    public (int[] Tokens, float[] Margins) Greedy(IReadOnlyList<int> prompt, int count)
    {
        using var context = _weights.CreateContext(_params);
        var batch = new LLamaBatch();
        float[] logits = [];
        for (int i = 0; i < prompt.Count; i++) logits = Decode(context, batch, prompt[i], i);
        var tokens = new int[count];
        var margins = new float[count];
        for (int n = 0; n < count; n++)
        {
            int best = 0;
            for (int j = 1; j < logits.Length; j++) if (logits[j] > logits[best]) best = j;
            float second = float.NegativeInfinity;
            for (int j = 0; j < logits.Length; j++) if (j != best && logits[j] > second) second = logits[j];
            tokens[n] = best;
            margins[n] = logits[best] - second;
            if (n + 1 < count) logits = Decode(context, batch, best, prompt.Count + n);
        }
        return (tokens, margins);
    }

    private static float[] Decode(LLamaContext context, LLamaBatch batch, int token, int position)
    {
        batch.Clear();
        batch.Add((LLamaToken)token, position, LLamaSeqId.Zero, true);
        var result = context.Decode(batch);
        if (result != DecodeResult.Ok) throw new InvalidOperationException($"llama_decode returned {result} at position {position}.");
        return context.NativeHandle.GetLogitsIth(0).ToArray();
    }

    public void Dispose() => _weights.Dispose();

    /// <summary>
    /// Sets the log callback that captures the native library's load lines, when the test assembly loads: the callback can
    /// only be set before LLamaSharp's first native call, and code under test (the CompactAI.LLamaSharp backend, which
    /// <see cref="ComputeBackend.Auto"/> may pick for a file our engine refuses) can make that call before any oracle test runs.
    /// </summary>
#pragma warning disable CA2255 // a module initializer in a test assembly: it must run before any test touches LLamaSharp
    [System.Runtime.CompilerServices.ModuleInitializer]
#pragma warning restore CA2255
    internal static void CaptureLoadLog()
    {
        // Keeps only the library-selection lines (llama.cpp's own log is verbose). Nothing native is loaded here.
        NativeLibraryConfig.All.WithLogCallback((level, message) =>
        {
            if (message.Contains("Successfully loaded", StringComparison.Ordinal) || message.Contains("AvxLevel", StringComparison.Ordinal))
                lock (s_gate) s_loadLog.Add(message.TrimEnd());
        });
    }

    /// <summary>Loads the native library (its load log was captured since the assembly loaded); idempotent.</summary>
    internal static void Configure()
    {
        lock (s_gate)
        {
            if (s_configured) return;
            s_configured = true;
            // Force the load now, so that LoadLog is complete before any model is opened.
            NativeApi.llama_empty_call();
        }
    }

    [GeneratedRegex(@"native/([a-z0-9]+)/libllama\.(?:so|dylib|dll)")]
    private static partial Regex LibLlamaPath();

    [GeneratedRegex(@"Successfully loaded '([^']*libggml-base\.(?:so|dylib|dll))'")]
    private static partial Regex GgmlBasePath();
}
