using CompactAI.Backends;
using CompactAI.Gguf;
using CompactAI.Inference;
using CompactAI.Models;
using CompactAI.Tensors;
using CompactAI.Tokenization;

namespace CompactAI;

/// <summary>
/// A loaded GGUF model: its configuration, tokenizer and memory-mapped weights. Load once, share across threads,
/// and create an <see cref="InferenceSession"/> per conversation.
/// </summary>
/// <example>
/// <code>
/// using var model = await CompactModel.LoadAsync("stories260K.gguf");
/// using var session = model.CreateSession();
/// await foreach (var token in session.GenerateAsync("Once upon a time", new() { Sampling = SamplingOptions.Greedy }))
///     Console.Write(token.Text);
/// </code>
/// </example>
/// <remarks>Thread-safe. Disposing the model unmaps the weights: dispose its sessions first.</remarks>
public sealed class CompactModel : IDisposable
{
    /// <summary>The architectures this engine runs.</summary>
    public static IReadOnlyList<string> SupportedArchitectures { get; } = ModelArchitecture.All.Keys.ToArray();

    private readonly GgufFile _file;

    // Load progress: the share of the work done after each step (the interleaved copies, per layer, take the rest).
    private const float ProgressMapped = 0.05f, ProgressTokenizer = 0.15f, ProgressWeights = 0.25f, ProgressBackend = 0.4f;

    private CompactModel(GgufFile file, CompactModelOptions options, IProgress<float>? progress, CancellationToken cancellationToken)
    {
        _file = file;
        Options = options;
        // llama.cpp (CompactAI.LLamaSharp) runs the file when asked to, or under Auto when our engine lacks its architecture.
        string architecture = file.Metadata.GetString("general.architecture");
        bool ours = ModelArchitecture.All.ContainsKey(architecture);
        IDeviceProvider? llama = null;
        string? why = null;
        if (options.Backend == ComputeBackend.LLamaSharp)
        {
            llama = BackendSelector.FindProvider(BackendSelector.LLamaSharpProviderTypeName, out var reason)
                    ?? throw new BackendUnavailableException(ComputeBackend.LLamaSharp, reason!);
            if (ours && ModelConfig.FromGguf(file).IsEncoder)
                throw new BackendUnavailableException(ComputeBackend.LLamaSharp, $"encoder models ({architecture}) run on CompactAI's CPU engine only");
        }
        else if (options.Backend == ComputeBackend.Auto && !ours)
        {
            llama = BackendSelector.FindProvider(BackendSelector.LLamaSharpProviderTypeName, out var reason)
                    ?? throw new NotSupportedException($"Model architecture '{architecture}' is not supported. Supported architectures: " +
                        $"{string.Join(", ", ModelArchitecture.All.Keys)}. The CompactAI.LLamaSharp package would run it in llama.cpp, but {reason}.");
            why = $"CompactAI's engine does not implement the '{architecture}' architecture";
        }
        Config = llama is null ? ModelConfig.FromGguf(file) : ModelConfig.ForExternalEngine(file);
        Tokenizer = ModelTokenizer.FromGguf(file);
        if (Tokenizer.VocabularySize != Config.VocabularySize)
            throw new GgufFormatException($"the tokenizer has {Tokenizer.VocabularySize} tokens but token_embd.weight has {Config.VocabularySize} rows", "tokenizer.ggml.tokens", -1, file.FilePath);
        if (Config.IsEncoder)
        {
            // Encoders run on the CPU engine's matmuls through their own forward pass (BertEncoder); no sessions, no device.
            if (options.Backend == ComputeBackend.Cuda)
                throw new BackendUnavailableException(ComputeBackend.Cuda, $"encoder models ({Config.Architecture}) run on the CPU only");
            var encoderWeights = BertWeights.Load(file, Config);
            int encoderThreads = options.Threads ?? Environment.ProcessorCount;
            int maxTokens = Math.Max(Config.ContextLength, Math.Min(options.BatchSize, 4096));
            Encoders = new EncoderPool(() => new BertEncoder(Config, encoderWeights, encoderThreads, maxTokens), options.MaxParallelSequences, maxTokens);
            BackendDescription = $"the CPU ({encoderThreads} threads): encoder models run on the CPU";
            progress?.Report(1f);
            return;
        }
        cancellationToken.ThrowIfCancellationRequested();
        progress?.Report(ProgressTokenizer);
        int ctx = DefaultContextSize;
        string modelName = Config.Name ?? Path.GetFileName(file.FilePath) ?? Config.Architecture;
        if (llama is null)
        {
            try
            {
                _weights = ModelWeights.Load(file, Config, FormatSet.Select(options.CpuKernels, options.NativeLibraryPath));
            }
            catch (NotSupportedException e) when (options.Backend == ComputeBackend.Auto
                && BackendSelector.FindProvider(BackendSelector.LLamaSharpProviderTypeName, out _) is { } provider)
            {
                // A tensor type our kernels do not decode: llama.cpp may.
                llama = provider;
                why = $"CompactAI's engine cannot run this file ({e.Message.TrimEnd('.')})";
            }
        }
        if (llama is not null)
        {
            // The weights are llama.cpp's: nothing of ours is loaded beyond the header, tokenizer and chat template.
            BackendSelector.Choice external;
            try
            {
                external = BackendSelector.SelectLLamaSharp(llama, options, Config, file.FilePath
                    ?? throw new BackendUnavailableException(ComputeBackend.LLamaSharp, "the model was not loaded from a file"),
                    ctx, Math.Min(options.BatchSize, ctx), modelName, why);
            }
            catch (BackendUnavailableException e) when (options.Backend == ComputeBackend.Auto)
            {
                // Auto promised nothing about llama.cpp: the file is one neither engine runs.
                throw new NotSupportedException($"{why}, and llama.cpp (CompactAI.LLamaSharp) cannot run it either: {e.Reason}", e);
            }
            _device = external.Device;
            BackendDescription = external.Description;
            progress?.Report(1f);
            return;
        }
        cancellationToken.ThrowIfCancellationRequested();
        progress?.Report(ProgressWeights);
        var choice = BackendSelector.Select(options, Config, Weights, ctx, Math.Min(options.BatchSize, ctx), modelName);
        _device = choice.Device;
        BackendDescription = choice.Description;
        // The layers the CPU runs take the native kernels' interleaved layouts (the device has its own copy of the rest).
        try
        {
            cancellationToken.ThrowIfCancellationRequested();
            progress?.Report(ProgressBackend);
            if (options.InterleaveWeights)
            {
                _weights!.InterleaveForCpu(file, _device?.DeviceLayers ?? 0, output: _device is null, cancellationToken,
                    progress is null ? null : new Action<float>(done => progress.Report(ProgressBackend + (1 - ProgressBackend) * done)));
            }
            cancellationToken.ThrowIfCancellationRequested();
        }
        catch
        {
            _weights!.Dispose();
            _device?.Dispose();
            throw;
        }
        progress?.Report(1f);
    }

    private readonly IDeviceModel? _device;

    /// <summary>Where the forward pass runs: <see cref="ComputeBackend.Cpu"/>, <see cref="ComputeBackend.Cuda"/> or <see cref="ComputeBackend.LLamaSharp"/> (never Auto).</summary>
    public ComputeBackend Backend => _device?.Backend ?? ComputeBackend.Cpu;

    /// <summary>
    /// One line saying where the model runs, e.g. "CUDA device #0 (NVIDIA L4, 22.5 GiB): 24 of 24 layers on the device", or why it runs
    /// on the CPU, e.g. "the CPU (8 threads): CUDA not used because the CompactAI.Cuda package is not referenced". The same line is logged at load.
    /// </summary>
    public string BackendDescription { get; }

    /// <summary>Transformer blocks running on the device (0 on the CPU).</summary>
    public int DeviceLayers => _device?.DeviceLayers ?? 0;

    private int DefaultContextSize => Options.ContextSize ?? Math.Min(Config.ContextLength, 4096);

    /// <summary>The model's hyper-parameters.</summary>
    public ModelConfig Config { get; }

    /// <summary>The model's tokenizer.</summary>
    public ModelTokenizer Tokenizer { get; }

    /// <summary>The options the model was loaded with.</summary>
    public CompactModelOptions Options { get; }

    /// <summary>The GGUF metadata.</summary>
    public GgufMetadata Metadata => _file.Metadata;

    /// <summary>The file the model was loaded from.</summary>
    public string? FilePath => _file.FilePath;

    /// <summary>The size of the model file in bytes.</summary>
    public long FileSize => _file.Length;

    private readonly ModelWeights? _weights;

    /// <summary>The decoder's weights.</summary>
    /// <exception cref="EncoderOnlyModelException">The model is an encoder.</exception>
    internal ModelWeights Weights => _weights ?? throw (Config.IsEncoder ? NotGenerative()
        : new BackendFeatureNotSupportedException(Backend, "CompactAI's own forward pass", "llama.cpp holds this model's weights"));

    /// <summary>The encoders of an encoder model (<see cref="ModelConfig.IsEncoder"/>), else null.</summary>
    internal EncoderPool? Encoders { get; }

    private EncoderOnlyModelException NotGenerative() =>
        new(Config.Name ?? Path.GetFileNameWithoutExtension(_file.FilePath) ?? Config.Architecture, Config.Architecture);

    internal GgufFile File => _file;

    private SessionState.Fingerprint? _stateFingerprint;

    /// <summary>What a saved session state records about the model, computed once.</summary>
    internal SessionState.Fingerprint StateFingerprint => _stateFingerprint ??= SessionState.Fingerprint.Of(this);

    /// <summary>
    /// Loads a model from a GGUF file. The file is memory-mapped and the weights are used in place, except Q4_K matrices
    /// that the CPU computes with the native kernels: those are copied once into the kernels' interleaved layout, and their
    /// mapped pages are released, so memory use stays about the file's size.
    /// </summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="GgufFormatException">The file is malformed or misses a required key or tensor.</exception>
    /// <exception cref="NotSupportedException">The architecture, tokenizer or a tensor type is not supported (the message names it); with
    /// <see cref="ComputeBackend.Auto"/> and the <c>CompactAI.LLamaSharp</c> package referenced, neither engine runs the file.</exception>
    /// <exception cref="BackendUnavailableException"><see cref="CompactModelOptions.Backend"/> is Cuda and CUDA cannot be used, or is
    /// LLamaSharp and the package or its runtime is missing or llama.cpp cannot load the file, or <see cref="CompactModelOptions.CpuKernels"/> is Native and the native library cannot be loaded (the reason says why).</exception>
    /// <exception cref="DeviceOutOfMemoryException"><see cref="CompactModelOptions.Backend"/> is Cuda and the device has too little free memory (with the numbers).</exception>
    /// <exception cref="InvalidOperationException"><see cref="CompactModelOptions.NativeLibraryPath"/> names another library than the one this process already loaded.</exception>
    public static CompactModel Load(string path, CompactModelOptions? options = null) => Load(path, options, null, CancellationToken.None);

    /// <summary>Loads a model (see <see cref="Load(string, CompactModelOptions?)"/>), reporting progress and honouring cancellation between steps.</summary>
    /// <param name="path">The GGUF file.</param>
    /// <param name="options">The options (null: defaults).</param>
    /// <param name="progress">
    /// Receives the share of the load done, in [0, 1], non-decreasing: 0 at the start, after the file is mapped, the tokenizer
    /// read, the weights viewed and the backend chosen (the device upload, when there is one, is part of that step), then per
    /// layer copied into the interleaved layout, and 1 when the model is ready. Reported on the loading thread.
    /// </param>
    /// <param name="cancellationToken">Stops the load between steps and between layers; what was made is released.</param>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public static CompactModel Load(string path, CompactModelOptions? options, IProgress<float>? progress, CancellationToken cancellationToken)
    {
        options ??= new CompactModelOptions();
        options.Validate();
        cancellationToken.ThrowIfCancellationRequested();
        progress?.Report(0f);
        var file = GgufFile.Open(path);
        try
        {
            cancellationToken.ThrowIfCancellationRequested();
            progress?.Report(ProgressMapped);
            return new CompactModel(file, options, progress, cancellationToken);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>Loads a model on a background thread; see <see cref="Load(string, CompactModelOptions?, IProgress{float}?, CancellationToken)"/>.</summary>
    public static Task<CompactModel> LoadAsync(string path, CompactModelOptions? options, CancellationToken cancellationToken) =>
        LoadAsync(path, options, null, cancellationToken);

    /// <summary>
    /// Loads a model on a background thread, reporting progress and honouring cancellation; see
    /// <see cref="Load(string, CompactModelOptions?, IProgress{float}?, CancellationToken)"/>.
    /// </summary>
    public static Task<CompactModel> LoadAsync(string path, CompactModelOptions? options = null, IProgress<float>? progress = null,
        CancellationToken cancellationToken = default) =>
        Task.Run(() => Load(path, options, progress, cancellationToken), cancellationToken);

    /// <summary>Creates a session with its own KV cache.</summary>
    /// <param name="contextSize">Context size in tokens (default: the load options', else the training context capped at 4096).</param>
    /// <exception cref="DeviceOutOfMemoryException">The model is on a device with too little free memory for this session's KV cache.</exception>
    /// <exception cref="EncoderOnlyModelException">The model is an encoder-only embedding model (<see cref="ModelConfig.IsEncoder"/>): it cannot generate text.</exception>
    public InferenceSession CreateSession(int? contextSize = null)
    {
        if (Config.IsEncoder) throw NotGenerative();
        int ctx = contextSize ?? DefaultContextSize;
        ArgumentOutOfRangeException.ThrowIfLessThan(ctx, 1, nameof(contextSize));
        int threads = Options.Threads ?? Environment.ProcessorCount;
        var c = Config;
        var sequence = _device is null
            ? new Sequence(new KvCache(c.BlockCount, ctx, c.KvHeadCount, c.HeadDim, c.ValueDim), c.VocabularySize)
            : new Sequence(_device.CreatePass(ctx, Math.Min(Options.BatchSize, ctx), threads), ctx, c.VocabularySize);
        return new InferenceSession(this, sequence, Scheduler);
    }

    private BatchScheduler? _scheduler;
    private readonly object _schedulerLock = new();

    /// <summary>
    /// The model's batch scheduler: its thread and worker pool (<see cref="CompactModelOptions.Threads"/> threads) run one
    /// forward pass per step for all of the model's sessions. Started by the first session.
    /// </summary>
    internal BatchScheduler Scheduler
    {
        get
        {
            if (Volatile.Read(ref _scheduler) is { } s) return s;
            lock (_schedulerLock)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                // A model whose weights llama.cpp holds has no batched pass of ours: every sequence has its own.
                return _scheduler ??= new BatchScheduler(Config, _device?.Backend == ComputeBackend.LLamaSharp ? null : Weights, Options.Threads ?? Environment.ProcessorCount,
                    Math.Min(Options.BatchSize, DefaultContextSize), DefaultContextSize);
            }
        }
    }

    private bool _disposed;

    /// <summary>
    /// Loads a LoRA adapter (llama.cpp's adapter GGUF: <c>general.type = adapter</c>, <c>adapter.type = lora</c>,
    /// <c>adapter.lora.alpha</c>, tensors <c>&lt;base tensor&gt;.lora_a</c> / <c>.lora_b</c>) for this model, checking it
    /// against the model: architecture, every base tensor present, every pair's shapes. The model's weights are not changed:
    /// pass the adapter per generation in <see cref="GenerationOptions.Adapters"/>; any number may be loaded and used at once.
    /// </summary>
    /// <param name="path">The adapter file.</param>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="GgufFormatException">The file is not valid GGUF.</exception>
    /// <exception cref="LoraAdapterException">The file is not a LoRA adapter, or does not fit this model (the message and
    /// <see cref="LoraAdapterException.TensorName"/> name the tensor).</exception>
    /// <exception cref="NotSupportedException">The adapter changes a tensor this engine does not adapt, or uses an unsupported tensor type.</exception>
    public LoraAdapter LoadAdapter(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        return LoraAdapter.Load(this, path);
    }

    private SessionPool? _sessions;

    /// <summary>
    /// The model's shared, bounded session pool (<see cref="CompactModelOptions.MaxParallelSequences"/> sessions), used by
    /// the chat client and the embedding generator. Each request gets the idle session whose cache shares the longest prefix
    /// with its prompt, so a system prompt common to many conversations is processed once and then served from the cache.
    /// </summary>
    /// <exception cref="EncoderOnlyModelException">The model is an encoder-only embedding model: it has no sessions.</exception>
    public SessionPool Sessions
    {
        get
        {
            if (Config.IsEncoder) throw NotGenerative();
            if (_sessions is { } s) return s;
            var created = new SessionPool(this, Options.MaxParallelSequences, DefaultContextSize);
            if (Interlocked.CompareExchange(ref _sessions, created, null) is { } existing) { created.Dispose(); return existing; }
            return created;
        }
    }

    /// <summary>Disposes the pooled sessions, releases the model's device memory (once its last session is disposed) and unmaps the model file.</summary>
    public void Dispose()
    {
        _sessions?.Dispose();
        Encoders?.Dispose();
        lock (_schedulerLock)
        {
            _disposed = true;
            _scheduler?.Dispose();
        }
        _device?.Dispose();
        _weights?.Dispose();
        _file.Dispose();
    }
}
