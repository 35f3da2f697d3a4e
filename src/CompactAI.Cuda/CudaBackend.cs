using System.Runtime.InteropServices;
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
/// <remarks>Not thread-safe: one backend serves one inference session at a time.</remarks>
public sealed class CudaBackend : IDisposable
{
    private static readonly Lazy<(IReadOnlyList<DeviceInfo> Devices, string? Reason)> s_devices = new(Enumerate);

    private readonly Context _context;
    private DeviceKernels? _kernels;

    private CudaBackend(Context context, Accelerator accelerator, DeviceInfo? device)
    {
        _context = context;
        Accelerator = accelerator;
        Device = device;
    }

    /// <summary>The CUDA device, or null when this backend runs on ILGPU's CPU accelerator (tests only).</summary>
    public DeviceInfo? Device { get; }

    /// <summary>The accelerator's name as ILGPU reports it.</summary>
    public string AcceleratorName => Accelerator.Name;

    /// <summary>True when the kernels run on a CUDA device.</summary>
    public bool IsCuda => Accelerator.AcceleratorType == AcceleratorType.Cuda;

    internal Accelerator Accelerator { get; }

    /// <summary>The kernels, compiled on first use (ILGPU compiles each kernel once per accelerator).</summary>
    internal DeviceKernels Kernels => _kernels ??= new DeviceKernels(Accelerator);

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
    internal static CudaBackend CreateCpuAccelerator(int threadsPerWarp = 4, int warpsPerMultiprocessor = 1, int multiprocessors = 1)
    {
        var device = new CPUDevice(threadsPerWarp, warpsPerMultiprocessor, multiprocessors);
        var context = Context.Create(b => b.CPU(device));
        try
        {
            return new CudaBackend(context, device.CreateCPUAccelerator(context, CPUAcceleratorMode.Parallel), null);
        }
        catch
        {
            context.Dispose();
            throw;
        }
    }

    private static (IReadOnlyList<DeviceInfo>, string?) Enumerate()
    {
        string driver = OperatingSystem.IsWindows() ? "nvcuda.dll" : "libcuda.so.1";
        if (OperatingSystem.IsMacOS()) return ([], "CUDA is not available on macOS.");
        if (!NativeLibrary.TryLoad(driver, out var handle))
            return ([], $"No CUDA driver: {driver} could not be loaded (install the NVIDIA driver).");
        NativeLibrary.Free(handle);
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
            return list.Count > 0 ? (list, null) : ([], $"The CUDA driver ({driver}) loaded but reports no CUDA device.");
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
