using System.Reflection;
using CompactAI.Cuda;
using ILGPU;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace CompactAI.Tests.Cuda;

/// <summary>
/// Every kernel translates to PTX with ILGPU's CUDA backend, without a GPU: catches constructs the CPU accelerator runs but the
/// PTX backend rejects (unsupported intrinsics, managed calls). Loading the PTX into a driver still needs a device.
/// </summary>
public sealed class PtxCompilationTests
{
    public static TheoryData<string> Kernels()
    {
        var data = new TheoryData<string>();
        foreach (var m in KernelMethods()) data.Add($"{m.DeclaringType!.Name}.{m.Name}");
        return data;
    }

    private static IEnumerable<MethodInfo> KernelMethods() =>
        typeof(CudaBackend).Assembly.GetTypes()
            .Where(t => t.Namespace == "CompactAI.Cuda.Kernels" && t.Name.EndsWith("Kernels", StringComparison.Ordinal))
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Static | BindingFlags.DeclaredOnly))
            .Where(m => m.ReturnType == typeof(void));

    [Theory]
    [MemberData(nameof(Kernels))]
    public void Kernel_CompilesToPtx(string name)
    {
        var method = KernelMethods().Single(m => $"{m.DeclaringType!.Name}.{m.Name}" == name);
        bool implicitlyGrouped = method.GetParameters()[0].ParameterType == typeof(Index1D);
        var entry = implicitlyGrouped
            ? EntryPointDescription.FromImplicitlyGroupedKernel(method)
            : EntryPointDescription.FromExplicitlyGroupedKernel(method);
        using var context = Context.Create(b => b.Cuda());
        var arch = CudaArchitecture.SM_90;
        var isa = CudaAccelerator.GetInstructionSet(arch, CudaDriverVersion.FromMajorMinor(12, 4));
        using var backend = new PTXBackend(context, arch, isa, null!);
        var compiled = (PTXCompiledKernel)backend.Compile(entry, KernelSpecialization.Empty);
        Assert.Contains(".entry", compiled.PTXAssembly, StringComparison.Ordinal);
        Assert.Contains(".target sm_", compiled.PTXAssembly, StringComparison.Ordinal);
        Assert.DoesNotContain(".approx", compiled.PTXAssembly, StringComparison.Ordinal); // no low-precision intrinsics (tanh.approx, ex2.approx) // ILGPU 1.5.3 emits PTX ISA 8.4 (sm_80 target), which sm_90 JIT-compiles
    }
}
