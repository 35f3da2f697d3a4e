// Semantic search with a real sentence-embedding model: all-MiniLM-L6-v2 (bert, 384 dimensions, mean pooling) embeds a
// few documents in one batched call through IEmbeddingGenerator, then ranks them by cosine similarity to a query. The
// model's own WordPiece tokenizer, as a Microsoft.ML.Tokenizers Tokenizer, counts each document's tokens against the
// model's 512-token window (what a chunker would use to split long texts).
//   dotnet run --project samples/CompactAI.Samples.SemanticSearch -- [--embedding-model PATH] [--query TEXT]
// Default model: ../shared/models/all-MiniLM-L6-v2-Q8_0.gguf. See docs/specialized-models.md.
using System.Numerics.Tensors;
using CompactAI;
using CompactAI.Chat;
using CompactAI.Samples;
using Microsoft.Extensions.AI;

string query = SampleModel.Option(args, "--query") ?? "How can I get back into my account?";
string[] documents =
[
    "To reset your password, open Settings, choose Security and follow the link we email you.",
    "Our office is closed on public holidays; support answers tickets the next working day.",
    "Invoices can be downloaded as PDF from the Billing page for the last 24 months.",
    "If you forgot your username, use the recovery form with the email address you signed up with.",
    "The mobile app supports dark mode on Android 10 and later and on iOS 13 and later.",
    "Two-factor authentication can be turned on with any authenticator app that supports TOTP.",
];

using var model = await CompactModel.LoadAsync(SampleModel.Resolve(args, "all-MiniLM-L6-v2-Q8_0.gguf", "--embedding-model"));
using IEmbeddingGenerator<string, Embedding<float>> embedder = new CompactEmbeddingGenerator(model);
var tokenizer = model.Tokenizer.AsTokenizer(addSpecialTokens: true);

GeneratedEmbeddings<Embedding<float>> index = await embedder.GenerateAsync(documents); // one batched encoder pass
ReadOnlyMemory<float> q = await embedder.GenerateVectorAsync(query);

Console.WriteLine($"model: {model.Config.Name} ({model.Config.Architecture}, {model.Config.EmbeddingLength} dimensions, {model.Config.Pooling} pooling)");
Console.WriteLine($"query: {query}");
var ranked = documents
    .Select((text, i) => (Text: text, Score: TensorPrimitives.CosineSimilarity(q.Span, index[i].Vector.Span)))
    .OrderByDescending(d => d.Score);
foreach (var (text, score) in ranked)
    Console.WriteLine($"{score,7:F4}  [{tokenizer.CountTokens(text),3}/{model.Config.ContextLength} tokens]  {text}");
