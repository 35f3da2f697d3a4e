namespace CompactAI.Cuda;

/// <summary>
/// One <see cref="CudaBackend"/> per CUDA device for the whole process, shared by every model loaded on it and counted: the
/// device is opened by the first model and closed when the last one lets go. Sharing one context keeps the kernels compiled once
/// and lets the backend serialise all work on the device (<see cref="CudaBackend.Gate"/>).
/// </summary>
internal static class SharedDevices
{
    private static readonly Lock s_lock = new();
    private static readonly Dictionary<int, (CudaBackend Backend, int Users)> s_open = new();

    /// <summary>The backend of device <paramref name="index"/>, opened if no model holds it yet.</summary>
    /// <exception cref="BackendUnavailableException">No driver, no such device, or the driver refused a context (the reason says which).</exception>
    public static CudaBackend Acquire(int index)
    {
        lock (s_lock)
        {
            if (s_open.TryGetValue(index, out var entry))
            {
                s_open[index] = (entry.Backend, entry.Users + 1);
                return entry.Backend;
            }
            var backend = CudaBackend.TryCreate(index, out var reason)
                          ?? throw new BackendUnavailableException(ComputeBackend.Cuda, reason ?? $"CUDA device #{index} could not be opened.");
            s_open[index] = (backend, 1);
            return backend;
        }
    }

    /// <summary>Gives back a backend from <see cref="Acquire"/>; the last user closes the device.</summary>
    public static void Release(CudaBackend backend)
    {
        lock (s_lock)
        {
            foreach (var (index, entry) in s_open)
            {
                if (!ReferenceEquals(entry.Backend, backend)) continue;
                if (entry.Users > 1)
                {
                    s_open[index] = (backend, entry.Users - 1);
                    return;
                }
                s_open.Remove(index);
                backend.Dispose();
                return;
            }
        }
        throw new InvalidOperationException("This backend was not acquired from the shared devices, or was released twice.");
    }
}
