using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;

namespace CompactAI.Cuda;

/// <summary>
/// The CUDA backend: one ILGPU accelerator (a CUDA device) with CompactAI's kernels compiled for it. Enumerate devices with
/// <see cref="GetDevices(out string?)"/>, open one with <see cref="TryCreate"/>. Without a usable device the reason says why
/// (no driver, no device, or the driver refused). Dispose to free the device memory and the context.
/// </summary>
/// <remarks>
/// Models loaded with <see cref="CompactModelOptions.Backend"/> = Cuda share one backend per device (reference-counted); their
/// sessions' forward passes take turns on it (<see cref="Gate"/>). A backend opened with <see cref="TryCreate"/> belongs to the caller.
/// </remarks>
public sealed class CudaBackend : IDisposable
{
    private static readonly Lazy<(IReadOnlyList<DeviceInfo> Devices, string? Reason)> s_devices = new(Enumerate);

    private readonly Context _context;
    private readonly long? _simulatedMemory;
    private readonly Lock _kernelsLock = new();
    private DeviceKernels? _kernels;
    private long _allocated;

    private CudaBackend(Context context, Accelerator accelerator, DeviceInfo? device, long? simulatedMemory = null)
    {
        _context = context;
        Accelerator = accelerator;
        Device = device;
        _simulatedMemory = simulatedMemory;
    }

    /// <summary>The CUDA device, or null when this backend runs on ILGPU's CPU accelerator (tests only).</summary>
    public DeviceInfo? Device { get; }

    /// <summary>The accelerator's name as ILGPU reports it.</summary>
    public string AcceleratorName => Accelerator.Name;

    /// <summary>True when the kernels run on a CUDA device.</summary>
    public bool IsCuda => Accelerator.AcceleratorType == AcceleratorType.Cuda;

    internal Accelerator Accelerator { get; }

    /// <summary>The kernels, compiled on first use (ILGPU compiles each kernel once per accelerator).</summary>
    internal DeviceKernels Kernels
    {
        get
        {
            if (_kernels is { } k) return k;
            lock (_kernelsLock) return _kernels ??= new DeviceKernels(Accelerator);
        }
    }

    /// <summary>
    /// Held by a forward pass for its whole run, and by uploads, allocations and frees: all work on the device is serialised, so
    /// sessions and models sharing it cannot interleave. Re-entrant.
    /// </summary>
    internal Lock Gate { get; } = new();

    /// <summary>"CUDA device #0 (NVIDIA L4, 22.5 GiB)", or the CPU accelerator's name in tests.</summary>
    public string Description => Device is { } d
        ? $"CUDA device #{d.Index} ({d.Name}, {d.MemoryBytes / (1024.0 * 1024 * 1024):F1} GiB)"
        : $"ILGPU {Accelerator.Name}";

    /// <summary>Bytes allocated through this backend and not yet freed (weights, caches, scratch).</summary>
    internal long AllocatedBytes => Interlocked.Read(ref _allocated);

    /// <summary>
    /// Free device memory in bytes: what the driver reports on a CUDA device; on the CPU accelerator, the simulated capacity given
    /// to <see cref="CreateCpuAccelerator"/> less what is allocated (unlimited without one).
    /// </summary>
    internal long FreeMemoryBytes
    {
        get
        {
            if (Accelerator is CudaAccelerator cuda)
            {
                using var binding = Accelerator.BindScoped();
                return cuda.GetFreeMemory();
            }
            return _simulatedMemory is { } capacity ? Math.Max(0, capacity - AllocatedBytes) : long.MaxValue;
        }
    }

    /// <summary>
    /// Allocates <paramref name="length"/> elements, counted in <see cref="AllocatedBytes"/>. A refusal by the driver (or, on the
    /// CPU accelerator, the simulated capacity) becomes a <see cref="DeviceOutOfMemoryException"/> with the numbers.
    /// </summary>
    internal DeviceBuffer<T> Allocate<T>(long length) where T : unmanaged
    {
        long bytes = length * System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
        if (_simulatedMemory is { } capacity && AllocatedBytes + bytes > capacity)
            throw new DeviceOutOfMemoryException(ComputeBackend.Cuda, Description, "an allocation", bytes, FreeMemoryBytes);
        MemoryBuffer1D<T, Stride1D.Dense> buffer;
        try
        {
            lock (Gate)
            {
                using var binding = Accelerator.BindScoped();
                buffer = Accelerator.Allocate1D<T>(length);
            }
        }
        catch (Exception e) when (e is OutOfMemoryException || (e is CudaException c && c.Error.ToString().Contains("OUT_OF_MEMORY", StringComparison.Ordinal)))
        {
            throw new DeviceOutOfMemoryException(ComputeBackend.Cuda, Description, "an allocation", bytes, FreeMemoryBytes, e);
        }
        Interlocked.Add(ref _allocated, bytes);
        return new DeviceBuffer<T>(this, buffer);
    }

    /// <summary>Called by <see cref="DeviceBuffer{T}"/> when it frees its memory.</summary>
    internal void Released(long bytes) => Interlocked.Add(ref _allocated, -bytes);

    /// <summary>True when at least one CUDA device can be used.</summary>
    public static bool IsAvailable => s_devices.Value.Devices.Count > 0;

    /// <summary>
    /// The CUDA devices of this machine (enumerated once per process). When the list is empty, <paramref name="reason"/> says why:
    /// the driver library could not be loaded, the driver reports no device, or enumeration failed.
    /// </summary>
    public static IReadOnlyList<DeviceInfo> GetDevices(out string? reason)
    {
        var (devices, why) = s_devices.Value;
        reason = why;
        return devices;
    }

    /// <summary>
    /// Opens CUDA device <paramref name="deviceIndex"/> (an index into <see cref="GetDevices(out string?)"/>). Returns null, with
    /// <paramref name="reason"/> set, when there is no such device or the driver cannot create a context on it.
    /// </summary>
    public static CudaBackend? TryCreate(int deviceIndex, out string? reason)
    {
        var devices = GetDevices(out reason);
        if (devices.Count == 0) return null;
        if ((uint)deviceIndex >= (uint)devices.Count)
        {
            reason = $"There is no CUDA device #{deviceIndex}; this machine has {devices.Count} (0 to {devices.Count - 1}).";
            return null;
        }
        Context? context = null;
        try
        {
            context = Context.Create(b => b.Cuda());
            var accelerator = context.GetCudaDevice(deviceIndex).CreateAccelerator(context);
            reason = null;
            return new CudaBackend(context, accelerator, devices[deviceIndex]);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            context?.Dispose();
            reason = $"CUDA device #{deviceIndex} could not be opened: {e.Message}";
            return null;
        }
    }

    /// <summary>
    /// A backend on ILGPU's CPU accelerator: the same kernels, run by simulated warps on the CPU (tests only; slow). One simulated
    /// multiprocessor of one warp keeps the barrier traffic of warp shuffles low on small machines.
    /// </summary>
    /// <param name="threadsPerWarp">Simulated warp width.</param>
    /// <param name="warpsPerMultiprocessor">Simulated warps per multiprocessor.</param>
    /// <param name="multiprocessors">Simulated multiprocessors.</param>
    /// <param name="memoryBytes">A simulated device memory size for the out-of-memory checks (null: unlimited).</param>
    internal static CudaBackend CreateCpuAccelerator(int threadsPerWarp = 4, int warpsPerMultiprocessor = 1, int multiprocessors = 1, long? memoryBytes = null)
    {
        var device = new CPUDevice(threadsPerWarp, warpsPerMultiprocessor, multiprocessors);
        var context = Context.Create(b => b.CPU(device));
        try
        {
            return new CudaBackend(context, device.CreateCPUAccelerator(context, CPUAcceleratorMode.Parallel), null, memoryBytes);
        }
        catch
        {
            context.Dispose();
            throw;
        }
    }

    private static (IReadOnlyList<DeviceInfo>, string?) Enumerate()
    {
        // The same probe the core's backend selection makes before it loads this assembly.
        if (CompactAI.Backends.BackendSelector.CudaDriverMissing() is { } noDriver) return ([], noDriver);
        try
        {
            using var context = Context.Create(b => b.Cuda());
            var list = new List<DeviceInfo>();
            var cuda = context.GetCudaDevices();
            for (int i = 0; i < cuda.Count; i++)
            {
                var d = cuda[i];
                string arch = d.Architecture is { } a ? a.ToString() : "unknown";
                list.Add(new DeviceInfo(i, d.Name, d.MemorySize, arch, d.NumMultiprocessors));
            }
            return list.Count > 0 ? (list, null) : ([], $"The CUDA driver ({CompactAI.Backends.BackendSelector.CudaDriverLibrary}) loaded but reports no CUDA device.");
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return ([], $"CUDA devices could not be enumerated: {e.Message}");
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Accelerator.Dispose();
        _context.Dispose();
    }
}
