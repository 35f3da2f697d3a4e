namespace CompactAI.Tests.Cli;

/// <summary>What <c>compactai bench</c> times: exactly N decodes for tgN (the median/min/max it reports are checked in CliTests).</summary>
public sealed class BenchTimingTests(Stories260KFixture fixture) : IClassFixture<Stories260KFixture>
{
    [Fact]
    public async Task DecodeEachRunsOneForwardPassPerTokenAndLeavesTheSameCache()
    {
        int[] tokens = [1, 403, 407, 261, 378, 300, 17, 44];
        using var session = fixture.Model.CreateSession();
        session.DecodeEach(tokens);
        Assert.Equal(tokens.Length, session.TokensEvaluated);
        Assert.Equal(tokens, session.Tokens);

        // The cache it leaves is the one a prompt of those tokens gives: one more token after it has the same logits.
        var after = await session.GetNextTokenLogitsAsync([.. tokens, 5]);
        using var reference = fixture.Model.CreateSession();
        Assert.Equal(await reference.GetNextTokenLogitsAsync([.. tokens, 5]), after);
    }

    [Fact]
    public void DecodeEachRefusesWhatDoesNotFitOrIsNoToken()
    {
        using var session = fixture.Model.CreateSession(contextSize: 4);
        Assert.Throws<ArgumentException>(() => session.DecodeEach([1, 2, 3, 4, 5]));
        Assert.Throws<ArgumentOutOfRangeException>(() => session.DecodeEach([1, 512]));
    }
}
