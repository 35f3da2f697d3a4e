using System.Text.Json;
using CompactAI.Hybrid;
using Microsoft.Extensions.AI;
using static CompactAI.Tests.Hybrid.HybridAssert;

namespace CompactAI.Tests.Hybrid;

public class DistillationTests
{
    [Fact]
    public async Task Escalated_requests_are_logged_as_jsonl_without_interleaving()
    {
        string path = Path.Combine(Path.GetTempPath(), $"compactai-distill-{Guid.NewGuid():N}.jsonl");
        try
        {
            await using (var sink = new JsonlDistillationSink(path))
            {
                var options = new HybridOptions { DistillationSink = sink };
                var unsure = new ScriptedLocalClient(Tok.Unsure());
                using var client = new HybridChatClient(unsure, DelegateRemoteClient.Answering("Paris."), options);
                using var confidentClient = new HybridChatClient(new ScriptedLocalClient(Tok.Confident()), DelegateRemoteClient.Answering("x"), options);

                await Task.WhenAll(Enumerable.Range(0, 40).Select(i => Task.Run(() => client.GetResponseAsync(
                    [new ChatMessage(ChatRole.System, "Be brief."), new ChatMessage(ChatRole.User, $"question {i}")]))));
                await confidentClient.GetResponseAsync(Question); // stays local: not logged
            }

            string[] lines = await File.ReadAllLinesAsync(path);
            Assert.Equal(40, lines.Length);
            var questions = new HashSet<string>();
            foreach (string line in lines)
            {
                using JsonDocument record = JsonDocument.Parse(line);
                JsonElement root = record.RootElement;
                Assert.Equal("Paris.", root.GetProperty("remoteAnswer").GetString());
                Assert.Equal(new ScriptedLocalClient(Tok.Unsure()).Text, root.GetProperty("localAnswer").GetString());
                Assert.InRange(root.GetProperty("confidence").GetDouble(), 0, 0.5);
                Assert.True(root.GetProperty("timestamp").GetDateTimeOffset() > DateTimeOffset.UnixEpoch);
                JsonElement messages = root.GetProperty("messages");
                Assert.Equal("system", messages[0].GetProperty("role").GetString());
                questions.Add(messages[1].GetProperty("text").GetString()!);
            }

            Assert.Equal(40, questions.Count);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task Streamed_forced_remote_answers_are_logged_without_a_local_answer()
    {
        var sink = new RecordingSink();
        var options = new HybridOptions { DistillationSink = sink, StreamingMode = HybridStreamingMode.StreamThenVerify };
        using var client = new HybridChatClient(new ScriptedLocalClient(Tok.Confident()), DelegateRemoteClient.Answering("Paris."), options);

        await client.GetStreamingResponseAsync(Question, Route("remote")).ToChatResponseAsync();

        DistillationRecord record = Assert.Single(sink.Records);
        Assert.Equal(("Paris.", null, null), (record.RemoteAnswer, record.LocalAnswer, record.Confidence));
        Assert.Equal("user", Assert.Single(record.Messages).Role);
    }

    [Fact]
    public async Task A_failing_sink_does_not_fail_the_request()
    {
        var options = new HybridOptions { DistillationSink = new ThrowingSink() };
        using var client = new HybridChatClient(new ScriptedLocalClient(Tok.Unsure()), DelegateRemoteClient.Answering("Paris."), options);

        ChatResponse response = await client.GetResponseAsync(Question);

        Assert.Equal(HybridRoute.Remote, Decision(response).Route);
        Assert.Equal("Paris.", response.Text);
    }

    private sealed class RecordingSink : IDistillationSink
    {
        public System.Collections.Concurrent.ConcurrentQueue<DistillationRecord> Records { get; } = new();

        public ValueTask WriteAsync(DistillationRecord record, CancellationToken cancellationToken)
        {
            Records.Enqueue(record);
            return ValueTask.CompletedTask;
        }
    }

    private sealed class ThrowingSink : IDistillationSink
    {
        public ValueTask WriteAsync(DistillationRecord record, CancellationToken cancellationToken) => throw new IOException("disk full");
    }
}
