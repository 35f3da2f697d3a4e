using CompactAI.Backends;
using CompactAI.Gguf;
using CompactAI.Inference;
using CompactAI.Models;
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

    private CompactModel(GgufFile file, CompactModelOptions options)
    {
        _file = file;
        Options = options;
        Config = ModelConfig.FromGguf(file);
        Tokenizer = ModelTokenizer.FromGguf(file);
        if (Tokenizer.VocabularySize != Config.VocabularySize)
            throw new GgufFormatException($"the tokenizer has {Tokenizer.VocabularySize} tokens but token_embd.weight has {Config.VocabularySize} rows", "tokenizer.ggml.tokens", -1, file.FilePath);
        Weights = ModelWeights.Load(file, Config);
        int ctx = DefaultContextSize;
        var choice = BackendSelector.Select(options, Config, Weights, ctx, Math.Min(options.BatchSize, ctx),
            Config.Name ?? Path.GetFileName(file.FilePath) ?? Config.Architecture);
        _device = choice.Device;
        BackendDescription = choice.Description;
        // The layers the CPU runs take the native kernels' interleaved layouts (the device has its own copy of the rest).
        try
        {
            Weights.InterleaveForCpu(file, _device?.DeviceLayers ?? 0, output: _device is null);
        }
        catch
        {
            Weights.Dispose();
            _device?.Dispose();
            throw;
        }
    }

    private readonly IDeviceModel? _device;

    /// <summary>Where the forward pass runs: <see cref="ComputeBackend.Cpu"/> or <see cref="ComputeBackend.Cuda"/> (never Auto).</summary>
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

    internal ModelWeights Weights { get; }

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
    /// <exception cref="NotSupportedException">The architecture, tokenizer or a tensor type is not supported (the message names it).</exception>
    /// <exception cref="BackendUnavailableException"><see cref="CompactModelOptions.Backend"/> is Cuda and CUDA cannot be used (the reason says why).</exception>
    /// <exception cref="DeviceOutOfMemoryException"><see cref="CompactModelOptions.Backend"/> is Cuda and the device has too little free memory (with the numbers).</exception>
    public static CompactModel Load(string path, CompactModelOptions? options = null)
    {
        options ??= new CompactModelOptions();
        options.Validate();
        var file = GgufFile.Open(path);
        try
        {
            return new CompactModel(file, options);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>Loads a model on a background thread; see <see cref="Load"/>.</summary>
    public static Task<CompactModel> LoadAsync(string path, CompactModelOptions? options = null, CancellationToken cancellationToken = default) =>
        Task.Run(() => Load(path, options), cancellationToken);

    /// <summary>Creates a session with its own KV cache.</summary>
    /// <param name="contextSize">Context size in tokens (default: the load options', else the training context capped at 4096).</param>
    /// <exception cref="DeviceOutOfMemoryException">The model is on a device with too little free memory for this session's KV cache.</exception>
    public InferenceSession CreateSession(int? contextSize = null)
    {
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
                return _scheduler ??= new BatchScheduler(Config, Weights, Options.Threads ?? Environment.ProcessorCount,
                    Math.Min(Options.BatchSize, DefaultContextSize), DefaultContextSize);
            }
        }
    }

    private bool _disposed;

    private SessionPool? _sessions;

    /// <summary>
    /// The model's shared, bounded session pool (<see cref="CompactModelOptions.MaxParallelSequences"/> sessions), used by
    /// the chat client and the embedding generator. Each request gets the idle session whose cache shares the longest prefix
    /// with its prompt, so a system prompt common to many conversations is processed once and then served from the cache.
    /// </summary>
    public SessionPool Sessions
    {
        get
        {
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
        lock (_schedulerLock)
        {
            _disposed = true;
            _scheduler?.Dispose();
        }
        _device?.Dispose();
        Weights.Dispose();
        _file.Dispose();
    }
}
