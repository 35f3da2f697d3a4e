using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace CompactAI.Hosting;

/// <summary>Where a <see cref="CompactModelProvider"/>'s model is.</summary>
public enum CompactModelState
{
    /// <summary>Not loaded yet: it loads at host start (<see cref="CompactAIOptions.LoadOnStart"/>) or on first use.</summary>
    NotLoaded,

    /// <summary>Loading; <see cref="CompactModelProvider.LoadProgress"/> says how far.</summary>
    Loading,

    /// <summary>Loaded and warmed up.</summary>
    Loaded,

    /// <summary>The last load failed (<see cref="CompactModelProvider.LoadError"/>); the next use tries again.</summary>
    Failed,
}

/// <summary>
/// Loads the configured <see cref="CompactModel"/> once, on first use or at host start, and owns it. The registered
/// <see cref="CompactModel"/>, chat client and embedding generator of one registration (one name) all share this one instance.
/// </summary>
/// <remarks>
/// Thread-safe: concurrent callers wait for the same load; a failed load is retried by the next caller. Disposing the provider
/// cancels a load in progress.
/// </remarks>
public sealed partial class CompactModelProvider : IDisposable
{
    private readonly Func<CompactAIOptions> _options;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private readonly CancellationTokenSource _disposed = new();
    private Task<CompactModel>? _load;
    private volatile float _progress;

    /// <summary>Creates a provider over the default (unnamed) options (the model is not loaded yet).</summary>
    /// <param name="options">The options; validated when the model is first needed.</param>
    /// <param name="loggerFactory">Where the load is logged (null: nowhere).</param>
    public CompactModelProvider(IOptions<CompactAIOptions> options, ILoggerFactory? loggerFactory = null)
        : this(Microsoft.Extensions.Options.Options.DefaultName, () => options.Value, loggerFactory)
    {
        ArgumentNullException.ThrowIfNull(options);
    }

    /// <summary>Creates a provider over the options named <paramref name="name"/> (<c>AddCompactAI(name, …)</c>).</summary>
    /// <param name="name">The registration's name: the options' name and the service key.</param>
    /// <param name="options">The options monitor; <paramref name="name"/>'s options are validated when the model is first needed.</param>
    /// <param name="loggerFactory">Where the load is logged (null: nowhere).</param>
    public CompactModelProvider(string name, IOptionsMonitor<CompactAIOptions> options, ILoggerFactory? loggerFactory = null)
        : this(name, () => options.Get(name), loggerFactory)
    {
        ArgumentNullException.ThrowIfNull(options);
    }

    private CompactModelProvider(string name, Func<CompactAIOptions> options, ILoggerFactory? loggerFactory)
    {
        ArgumentNullException.ThrowIfNull(name);
        Name = name;
        _options = options;
        _loggerFactory = loggerFactory ?? NullLoggerFactory.Instance;
        _logger = _loggerFactory.CreateLogger<CompactModelProvider>();
    }

    /// <summary>The registration's name (<see cref="Microsoft.Extensions.Options.Options.DefaultName"/>, the empty string, for <c>AddCompactAI</c> without a name).</summary>
    public string Name { get; }

    /// <summary>The validated options (throws <see cref="OptionsValidationException"/> when they are invalid).</summary>
    public CompactAIOptions Options => _options();

    /// <summary>Whether the model has finished loading.</summary>
    public bool IsLoaded => _load is { IsCompletedSuccessfully: true };

    /// <summary>Where the model is: not loaded, loading, loaded, or failed.</summary>
    public CompactModelState State => _load switch
    {
        null => CompactModelState.NotLoaded,
        { IsCompletedSuccessfully: true } => CompactModelState.Loaded,
        { IsCompleted: true } => CompactModelState.Failed,
        _ => CompactModelState.Loading,
    };

    /// <summary>The progress of the current or last load, in [0, 1] (as reported to <see cref="CompactAIOptions.LoadProgress"/>).</summary>
    public float LoadProgress => _progress;

    /// <summary>Why the last load failed (null unless <see cref="State"/> is <see cref="CompactModelState.Failed"/>).</summary>
    public Exception? LoadError => _load is { IsFaulted: true } t ? t.Exception.InnerException ?? t.Exception
        : _load is { IsCanceled: true } ? new OperationCanceledException("The load was cancelled.") : null;

    /// <summary>The model, loading it first if needed (blocks the caller while it loads).</summary>
    /// <exception cref="OptionsValidationException">The options are invalid; the message names each bad field.</exception>
    public CompactModel Model => GetModelAsync(CancellationToken.None).GetAwaiter().GetResult();

    /// <summary>The model, loading it first if needed.</summary>
    /// <param name="cancellationToken">Stops waiting; the load itself goes on for other callers (disposing the provider cancels it).</param>
    /// <exception cref="OptionsValidationException">The options are invalid; the message names each bad field.</exception>
    public Task<CompactModel> GetModelAsync(CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed.IsCancellationRequested, this);
            if (_load is null || _load.IsFaulted || _load.IsCanceled)
            {
                var options = _options(); // validates: throws OptionsValidationException naming the fields
                _progress = 0;
                _load = LoadAsync(options, _disposed.Token);
            }
            return _load.WaitAsync(cancellationToken);
        }
    }

    private async Task<CompactModel> LoadAsync(CompactAIOptions options, CancellationToken cancellationToken)
    {
        string path = Path.GetFullPath(options.ModelPath!);
        var report = options.LoadProgress;
        var file = new FileInfo(path);
        if (!file.Exists) throw new FileNotFoundException($"The model file '{path}' does not exist.", path);
        LogLoading(_logger, Name, path, file.Length);
        var modelOptions = options.Model.LoggerFactory is null ? options.Model with { LoggerFactory = _loggerFactory } : options.Model;
        // The engine's own progress takes [0, 0.9]; the warm-up forward pass the rest.
        var progress = new Reporter(this, report, 0.9f);

        var clock = Stopwatch.StartNew();
        var model = await CompactModel.LoadAsync(path, modelOptions, progress, cancellationToken).ConfigureAwait(false);
        try
        {
            var loadTime = clock.Elapsed;

            // Warm-up: one forward pass on the pooled session touches every weight page and allocates the first KV cache.
            clock.Restart();
            if (model.Config.IsEncoder)
            {
                // An embedding model (bert) has no sessions: warm up with one embedding instead.
                using var embedder = new CompactAI.Chat.CompactEmbeddingGenerator(model);
                await embedder.GenerateAsync(["warm-up"]).ConfigureAwait(false);
                _progress = 1f;
                report?.Report(1f);
                LogLoaded(_logger, Name, path, file.Length / (1024.0 * 1024.0), model.Config.Architecture, model.Config.BlockCount,
                    loadTime.TotalMilliseconds, clock.Elapsed.TotalMilliseconds, 0, model.Config.ContextLength, model.Options.MaxParallelSequences,
                    model.BackendDescription);
                return model;
            }
            int[] first = [model.Tokenizer.BosToken >= 0 ? model.Tokenizer.BosToken : 0];
            long kvBytes;
            using (var lease = await model.Sessions.RentAsync(first, cancellationToken).ConfigureAwait(false))
            {
                await lease.Session.GetNextTokenLogitsAsync(first, cancellationToken).ConfigureAwait(false);
                kvBytes = lease.Session.KvCacheBytes;
            }
            _progress = 1f;
            report?.Report(1f);
            LogLoaded(_logger, Name, path, file.Length / (1024.0 * 1024.0), model.Config.Architecture, model.Config.BlockCount,
                loadTime.TotalMilliseconds, clock.Elapsed.TotalMilliseconds, kvBytes, model.Sessions.ContextSize, model.Sessions.Capacity,
                model.BackendDescription);
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>Scales the engine's progress into the provider's and the caller's.</summary>
    private sealed class Reporter(CompactModelProvider owner, IProgress<float>? target, float scale) : IProgress<float>
    {
        public void Report(float value)
        {
            float v = value * scale;
            owner._progress = v;
            target?.Report(v);
        }
    }

    /// <summary>Cancels a load in progress and disposes the model if it was loaded.</summary>
    public void Dispose()
    {
        Task<CompactModel>? load;
        lock (_lock)
        {
            if (_disposed.IsCancellationRequested) return;
            _disposed.Cancel();
            load = _load;
        }
        if (load is { IsCompletedSuccessfully: true }) load.Result.Dispose();
        else load?.ContinueWith(t => t.Result.Dispose(), CancellationToken.None, TaskContinuationOptions.OnlyOnRanToCompletion, TaskScheduler.Default);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Loading model '{Name}' from {Path} ({Bytes} bytes)")]
    private static partial void LogLoading(ILogger logger, string name, string path, long bytes);

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Loaded model '{Name}' from {Path} ({SizeMiB:F1} MiB, {Architecture}, {Layers} layers) in {LoadMs:F0} ms, warm-up {WarmupMs:F0} ms; " +
                  "KV cache {KvCacheBytes} bytes per sequence ({ContextSize}-token context), up to {MaxSequences} sequences; runs on {Backend}")]
    private static partial void LogLoaded(ILogger logger, string name, string path, double sizeMiB, string architecture, int layers,
        double loadMs, double warmupMs, long kvCacheBytes, int contextSize, int maxSequences, string backend);
}
