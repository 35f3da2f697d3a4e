using CompactAI.Gguf;
using static CompactAI.Tests.Gguf.GgufTestHelpers;

namespace CompactAI.Tests.Gguf;

public sealed class GgufFileLifetimeTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("compactai-gguf-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string TempFile(string name, byte[] contents)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllBytes(path, contents);
        return path;
    }

    /// <summary>Linux: whether this process still maps or holds open <paramref name="path"/>.</summary>
    private static bool HeldByThisProcess(string path)
    {
        if (File.ReadAllText("/proc/self/maps").Contains(path, StringComparison.Ordinal)) return true;
        foreach (var fd in new DirectoryInfo("/proc/self/fd").EnumerateFileSystemInfos())
        {
            try { if (fd.LinkTarget == path) return true; }
            catch (IOException) { } // the fd closed while enumerating
        }
        return false;
    }

    [Fact]
    public void Open_MissingFile_IsFileNotFound()
    {
        var path = Path.Combine(_dir, "missing.gguf");
        var ex = Assert.Throws<FileNotFoundException>(() => GgufFile.Open(path));
        Assert.Equal(path, ex.FileName);
        Assert.Throws<FileNotFoundException>(() => GgufFile.Open(_dir)); // a directory is not a model file
        Assert.Throws<ArgumentNullException>(() => GgufFile.Open(null!));
        Assert.Throws<ArgumentException>(() => GgufFile.Open(""));
        Assert.Throws<ArgumentNullException>(() => GgufFile.FromBytes(null!));
    }

    [Fact]
    public void Open_EmptyFile_IsFormatError()
    {
        var path = TempFile("empty.gguf", []);
        var ex = Assert.Throws<GgufFormatException>(() => GgufFile.Open(path));
        Assert.Equal("magic", ex.Field);
        Assert.Equal(0, ex.Offset);
        Assert.Equal(path, ex.FilePath);
        Assert.Contains(path, ex.Message);
        if (OperatingSystem.IsLinux()) Assert.False(HeldByThisProcess(path));
    }

    [Fact]
    public void Open_MalformedFile_NamesTheFile_AndReleasesIt()
    {
        var path = TempFile("truncated.gguf", SmallValidFile()[..100]);
        var ex = Assert.Throws<GgufFormatException>(() => GgufFile.Open(path));
        Assert.Equal(path, ex.FilePath);
        Assert.Contains(path, ex.Message);
        if (OperatingSystem.IsLinux()) Assert.False(HeldByThisProcess(path), "the file is still mapped or open after a failed Open");
    }

    [Fact]
    public void Open_MapsUntilDisposed_AndDisposeIsIdempotent()
    {
        var bytes = SmallValidFile();
        var path = TempFile("ok.gguf", bytes);
        var f = GgufFile.Open(Path.GetRelativePath(Environment.CurrentDirectory, path));
        Assert.Equal(path, f.FilePath);
        Assert.Equal(bytes.Length, f.Length);
        var t = f.Tensors[1];
        Assert.True(bytes.AsSpan((int)t.FileOffset, (int)t.ByteCount).SequenceEqual(f.GetTensorBytes(t)));
        if (OperatingSystem.IsLinux()) Assert.True(HeldByThisProcess(path));

        // Several readers of the same file at once.
        using (var second = GgufFile.Open(path)) Assert.Equal(f.Tensors.Count, second.Tensors.Count);

        f.Dispose();
        f.Dispose();
        if (OperatingSystem.IsLinux()) Assert.False(HeldByThisProcess(path), "the file is still mapped or open after Dispose");
        Assert.Throws<ObjectDisposedException>(() => f.GetTensorBytes(t).Length);
        // Metadata and tensor infos were read eagerly and stay usable.
        Assert.Equal("llama", f.Metadata.GetString("general.architecture"));
        Assert.Equal("b.weight", f.Tensors[1].Name);
    }

    [Fact]
    public void FromBytes_DisposeIsIdempotent_AndTensorBytesThrowAfterwards()
    {
        var f = GgufFile.FromBytes(SmallValidFile());
        var t = f.Tensors[0];
        Assert.Equal(32, f.GetTensorBytes(t).Length);
        f.Dispose();
        f.Dispose();
        Assert.Throws<ObjectDisposedException>(() => f.GetTensorBytes(t).Length);
        Assert.Throws<ArgumentNullException>(() => GgufFile.FromBytes(SmallValidFile()).GetTensorBytes(null!).Length);
    }

    [Fact]
    public void ConcurrentReaders_SeeTheSameBytes()
    {
        using var f = GgufFile.Open(TestData.Stories260K);
        static long Sum(ReadOnlySpan<byte> s) { long x = 0; foreach (var b in s) x += b; return x; }
        var expected = f.Tensors.Select(t => Sum(f.GetTensorBytes(t))).ToArray();
        Parallel.For(0, 8, _ =>
        {
            for (int i = 0; i < f.Tensors.Count; i++) Assert.Equal(expected[i], Sum(f.GetTensorBytes(f.Tensors[i])));
        });
    }
    /// <summary>Linux: the resident kB of this process's mappings of <paramref name="path"/> (/proc/self/smaps).</summary>
    private static long MappedResidentKb(string path)
    {
        long kb = 0;
        bool inFile = false;
        foreach (var line in File.ReadLines("/proc/self/smaps"))
        {
            if (line.Length > 0 && char.IsAsciiHexDigit(line[0]) && line.Contains('-')) inFile = line.EndsWith(path, StringComparison.Ordinal);
            else if (inFile && line.StartsWith("Rss:", StringComparison.Ordinal)) kb += long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]);
        }
        return kb;
    }

    [Fact]
    public unsafe void ReleasePages_DropsATensorsPagesFromTheResidentSet_AndReadsStillSeeTheFile()
    {
        if (!OperatingSystem.IsLinux()) return; // madvise is used on Linux only; elsewhere ReleasePages does nothing
        var path = TempFile("stories.gguf", File.ReadAllBytes(TestData.Stories260K));
        using var file = GgufFile.Open(path);
        var tensor = file.Tensors.MaxBy(t => t.ByteCount)!;
        Assert.True(tensor.ByteCount >= 64 * 1024, $"{tensor.Name} is {tensor.ByteCount} bytes");
        byte[] before = file.GetTensorBytes(tensor).ToArray(); // faults every page in
        long resident = MappedResidentKb(path);
        file.ReleasePages(file.GetTensorPointer(tensor), tensor.ByteCount);
        long released = resident - MappedResidentKb(path);
        // All whole pages inside the tensor leave (at most one partial page at each end stays).
        long wholePagesKb = (tensor.ByteCount - 2 * Environment.SystemPageSize) / 1024;
        Assert.True(released >= wholePagesKb, $"released {released} kB of {tensor.ByteCount / 1024} kB (resident before: {resident} kB)");
        Assert.Equal(before, file.GetTensorBytes(tensor).ToArray()); // mapped again from the file
        // Ranges outside the mapping are ignored rather than passed to the OS.
        file.ReleasePages(file.GetTensorPointer(tensor) - (1L << 40), 4096);
        Assert.Equal(before, file.GetTensorBytes(tensor).ToArray());
    }
}
