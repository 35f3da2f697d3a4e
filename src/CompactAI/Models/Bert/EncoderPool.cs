using System.Collections.Concurrent;

namespace CompactAI.Models;

/// <summary>
/// A bounded pool of <see cref="BertEncoder"/>s for one model: at most <c>capacity</c> callers encode at once, each on its
/// own encoder (threads and buffers); encoders are created on first need and kept until the pool is disposed.
/// </summary>
internal sealed class EncoderPool : IDisposable
{
    private readonly Func<BertEncoder> _create;
    private readonly SemaphoreSlim _slots;
    private readonly ConcurrentBag<BertEncoder> _idle = new();
    private readonly ConcurrentBag<BertEncoder> _all = new();
    private volatile bool _disposed;

    public EncoderPool(Func<BertEncoder> create, int capacity, int maxTokens)
    {
        _create = create;
        MaxTokens = maxTokens;
        _slots = new SemaphoreSlim(capacity, capacity);
    }

    /// <summary>The <see cref="BertEncoder.MaxTokens"/> of every encoder.</summary>
    public int MaxTokens { get; }

    /// <summary>Waits for a free slot and returns an encoder; give it back with <see cref="Return"/>.</summary>
    public async ValueTask<BertEncoder> RentAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        await _slots.WaitAsync(cancellationToken).ConfigureAwait(false);
        if (_idle.TryTake(out var encoder)) return encoder;
        try
        {
            encoder = _create();
        }
        catch
        {
            _slots.Release();
            throw;
        }
        _all.Add(encoder);
        return encoder;
    }

    /// <summary>Returns an encoder rented from this pool.</summary>
    public void Return(BertEncoder encoder)
    {
        _idle.Add(encoder);
        _slots.Release();
    }

    /// <summary>Disposes every encoder; nothing may be rented any more.</summary>
    public void Dispose()
    {
        _disposed = true;
        foreach (var e in _all) e.Dispose();
    }
}
