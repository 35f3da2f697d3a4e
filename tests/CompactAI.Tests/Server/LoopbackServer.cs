using CompactAI.Server;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace CompactAI.Tests.Server;

/// <summary>Starts and stops the server sample's endpoints on an app the test configured (Kestrel on 127.0.0.1, port 0).</summary>
internal static class LoopbackServer
{
    /// <summary>Maps the OpenAI endpoints, starts <paramref name="app"/> and returns its base address (ending in '/').</summary>
    public static async Task<Uri> StartAsync(WebApplication app)
    {
        OpenAIEndpoints.Map(app);
        await app.StartAsync();
        string address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new Uri(address.TrimEnd('/') + "/");
    }

    /// <summary>Stops and disposes <paramref name="app"/>, if it was built.</summary>
    public static async Task StopAsync(WebApplication? app)
    {
        if (app is null) return;
        await app.StopAsync();
        await app.DisposeAsync();
    }
}
