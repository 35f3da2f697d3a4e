using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace CompactAI.Hosting;

/// <summary>
/// Loads the configured <see cref="CompactModel"/> once, on first use or at host start, and owns it. The registered
/// <see cref="CompactModel"/>, chat client and embedding generator all share this one instance.
/// </summary>
/// <remarks>Thread-safe: concurrent callers wait for the same load; a failed load is retried by the next caller.</remarks>
public sealed partial class CompactModelProvider : IDisposable
{
    private readonly IOptions<CompactAIOptions> _options;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private Task<CompactModel>? _load;
    private bool _disposed;

    /// <summary>Creates a provider over validated options (the model is not loaded yet).</summary>
    /// <param name="options">The options; validated when the model is first needed.</param>
    /// <param name="loggerFactory">Where the load is logged (null: nowhere).</param>
    public CompactModelProvider(IOptions<CompactAIOptions> options, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<CompactModelProvider>();
    }

    /// <summary>Whether the model has finished loading.</summary>
    public bool IsLoaded => _load is { IsCompletedSuccessfully: true };

    /// <summary>The model, loading it first if needed (blocks the caller while it loads).</summary>
    /// <exception cref="OptionsValidationException">The options are invalid; the message names each bad field.</exception>
    public CompactModel Model => GetModelAsync(CancellationToken.None).GetAwaiter().GetResult();

    /// <summary>The model, loading it first if needed.</summary>
    /// <exception cref="OptionsValidationException">The options are invalid; the message names each bad field.</exception>
    public Task<CompactModel> GetModelAsync(CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_load is null || _load.IsFaulted || _load.IsCanceled)
            {
                var options = _options.Value; // validates: throws OptionsValidationException naming the fields
                _load = LoadAsync(options);
            }
            return _load.WaitAsync(cancellationToken);
        }
    }

    private async Task<CompactModel> LoadAsync(CompactAIOptions options)
    {
        string path = Path.GetFullPath(options.ModelPath!);
        var progress = options.LoadProgress;
        progress?.Report(0f);
        if (options.Backend == CompactAIBackend.Auto) LogBackendAuto(_logger);
        var file = new FileInfo(path);
        if (!file.Exists) throw new FileNotFoundException($"The model file '{path}' does not exist.", path);
        progress?.Report(0.1f);
        LogLoading(_logger, path, file.Length);

        var clock = Stopwatch.StartNew();
        var model = await CompactModel.LoadAsync(path, options.ToModelOptions()).ConfigureAwait(false);
        try
        {
            var loadTime = clock.Elapsed;
            progress?.Report(0.8f);

            // Warm-up: one forward pass on the pooled session touches every weight page and allocates the first KV cache.
            clock.Restart();
            if (model.Config.IsEncoder)
            {
                // An embedding model (bert) has no sessions: warm up with one embedding instead.
                using var embedder = new CompactAI.Chat.CompactEmbeddingGenerator(model);
                await embedder.GenerateAsync(["warm-up"]).ConfigureAwait(false);
                progress?.Report(1f);
                LogLoaded(_logger, path, file.Length / (1024.0 * 1024.0), model.Config.Architecture, model.Config.BlockCount,
                    loadTime.TotalMilliseconds, clock.Elapsed.TotalMilliseconds, 0, model.Config.ContextLength, model.Options.MaxParallelSequences);
                return model;
            }
            int[] first = [model.Tokenizer.BosToken >= 0 ? model.Tokenizer.BosToken : 0];
            long kvBytes;
            using (var lease = await model.Sessions.RentAsync(first).ConfigureAwait(false))
            {
                await lease.Session.GetNextTokenLogitsAsync(first).ConfigureAwait(false);
                kvBytes = lease.Session.KvCacheBytes;
            }
            progress?.Report(1f);
            LogLoaded(_logger, path, file.Length / (1024.0 * 1024.0), model.Config.Architecture, model.Config.BlockCount,
                loadTime.TotalMilliseconds, clock.Elapsed.TotalMilliseconds, kvBytes, model.Sessions.ContextSize, model.Sessions.Capacity);
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>Disposes the model if it was loaded.</summary>
    public void Dispose()
    {
        Task<CompactModel>? load;
        lock (_lock)
        {
            if (_disposed) return;
            _disposed = true;
            load = _load;
        }
        if (load is { IsCompletedSuccessfully: true }) load.Result.Dispose();
        else load?.ContinueWith(t => t.Result.Dispose(), CancellationToken.None, TaskContinuationOptions.OnlyOnRanToCompletion, TaskScheduler.Default);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Backend Auto: running on the CPU (this build has no CUDA backend).")]
    private static partial void LogBackendAuto(ILogger logger);

    [LoggerMessage(Level = LogLevel.Information, Message = "Loading model {Path} ({Bytes} bytes)")]
    private static partial void LogLoading(ILogger logger, string path, long bytes);

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Loaded model {Path} ({SizeMiB:F1} MiB, {Architecture}, {Layers} layers) in {LoadMs:F0} ms, warm-up {WarmupMs:F0} ms; " +
                  "KV cache {KvCacheBytes} bytes per sequence ({ContextSize}-token context), up to {MaxSequences} sequences")]
    private static partial void LogLoaded(ILogger logger, string path, double sizeMiB, string architecture, int layers,
        double loadMs, double warmupMs, long kvCacheBytes, int contextSize, int maxSequences);
}
