using System.Net;
using System.Text;
using System.Text.Json;
using CompactAI.Hosting;
using CompactAI.Server;
using CompactAI.Tensors;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace CompactAI.Tests.Embeddings;

/// <summary>The server sample's endpoints over all-MiniLM-L6-v2, wired as the sample wires them, on a loopback port.</summary>
public sealed class EmbeddingServerTests
{
    [Fact]
    public async Task V1_embeddings_serves_minilm_in_one_batched_call_and_chat_is_refused()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.Services.AddCompactAI(o =>
        {
            o.ModelPath = MiniLMGoldens.ModelPath;
            o.Chat = new() { ModelId = "minilm" };
            o.Model = new() { Threads = 2 };
        });
        await using var app = builder.Build();
        OpenAIEndpoints.Map(app);
        await app.StartAsync();
        try
        {
            var address = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First().TrimEnd('/') + "/");
            using var http = new HttpClient { BaseAddress = address };
            string body = JsonSerializer.Serialize(new { input = MiniLMGoldens.Sentences, model = "minilm" });
            using var response = await http.PostAsync("v1/embeddings", new StringContent(body, Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            var data = json.RootElement.GetProperty("data");
            var expected = MiniLMGoldens.Embeddings("Q8_0", "mean");
            Assert.Equal(expected.Length, data.GetArrayLength());
            for (int i = 0; i < expected.Length; i++)
            {
                float[] served = data[i].GetProperty("embedding").EnumerateArray().Select(x => x.GetSingle()).ToArray();
                Assert.Equal(384, served.Length);
                Assert.True(TensorMath.CosineSimilarity(expected[i], served) >= 0.9998, $"sentence {i}");
            }
            Assert.Equal(MiniLMGoldens.SentenceTokens.Sum(t => t.Length), json.RootElement.GetProperty("usage").GetProperty("prompt_tokens").GetInt64());

            using var chat = await http.PostAsync("v1/chat/completions",
                new StringContent("""{"messages":[{"role":"user","content":"Hello"}]}""", Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.BadRequest, chat.StatusCode);
            Assert.Contains("encoder-only embedding model", await chat.Content.ReadAsStringAsync());
        }
        finally
        {
            await app.StopAsync();
        }
    }
}
