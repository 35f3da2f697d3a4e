namespace CompactAI.Tests;

/// <summary>Loads stories260K once per test class.</summary>
public sealed class Stories260KFixture : IDisposable
{
    public CompactModel Model { get; } = CompactModel.Load(TestData.Stories260K, new CompactModelOptions { Threads = 2, ContextSize = 256 });

    public void Dispose() => Model.Dispose();
}
