using System.Text.Json;
using System.Text.Json.Serialization;

namespace CompactAI.Hybrid;

/// <summary>
/// Appends one JSON object per line to a file:
/// <c>{"messages":[{"role":…,"text":…}],"remoteAnswer":…,"localAnswer":…,"confidence":…,"timestamp":…}</c>.
/// Writes are serialized by a lock and flushed per record, so concurrent requests never interleave lines.
/// </summary>
public sealed class JsonlDistillationSink : IDistillationSink, IAsyncDisposable, IDisposable
{
    private static readonly JsonSerializerOptions SerializerOptions = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    private readonly SemaphoreSlim _lock = new(1, 1);
    private readonly StreamWriter _writer;
    private bool _disposed;

    /// <summary>Opens (creating or appending to) the file.</summary>
    /// <param name="path">The JSONL file.</param>
    public JsonlDistillationSink(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var stream = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read, 4096, useAsync: true);
        _writer = new StreamWriter(stream, new System.Text.UTF8Encoding(encoderShouldEmitUTF8Identifier: false));
    }

    /// <inheritdoc />
    public async ValueTask WriteAsync(DistillationRecord record, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(record);
        string line = JsonSerializer.Serialize(record, SerializerOptions);
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            await _writer.WriteLineAsync(line.AsMemory(), cancellationToken).ConfigureAwait(false);
            await _writer.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _lock.WaitAsync().ConfigureAwait(false);
        try
        {
            if (!_disposed)
            {
                _disposed = true;
                await _writer.DisposeAsync().ConfigureAwait(false);
            }
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _lock.Wait();
        try
        {
            if (!_disposed)
            {
                _disposed = true;
                _writer.Dispose();
            }
        }
        finally
        {
            _lock.Release();
        }
    }
}
