// Baseline for bench/load/run.sh: the same Kestrel, the same route, no verification or storage.
using System.Buffers;

var builder = WebApplication.CreateSlimBuilder(args);
builder.Logging.ClearProviders();
builder.WebHost.ConfigureKestrel(kestrel => kestrel.AddServerHeader = false);
var app = builder.Build();
app.MapPost("/webhooks/freescout", async (HttpContext http) =>
{
    var buffer = new ArrayBufferWriter<byte>(16 * 1024);
    while (true)
    {
        var read = await http.Request.Body.ReadAsync(buffer.GetMemory(16 * 1024));
        if (read == 0)
        {
            break;
        }

        buffer.Advance(read);
    }

    return Results.Json(new { deliveryId = buffer.WrittenCount, status = "accepted" }, statusCode: StatusCodes.Status202Accepted);
});
app.Run();
