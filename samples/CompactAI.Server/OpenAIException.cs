namespace CompactAI.Server;

/// <summary>
/// A request the server refuses, answered as OpenAI does: status <see cref="StatusCode"/> and
/// <c>{"error":{"message","type","param","code"}}</c>.
/// </summary>
public sealed class OpenAIException(int statusCode, string message, string type, string? code = null, string? param = null) : Exception(message)
{
    /// <summary>The HTTP status.</summary>
    public int StatusCode { get; } = statusCode;

    /// <summary>The error type, e.g. <c>invalid_request_error</c>.</summary>
    public string Type { get; } = type;

    /// <summary>The error code, e.g. <c>invalid_api_key</c>.</summary>
    public string? Code { get; } = code;

    /// <summary>The request field at fault.</summary>
    public string? Param { get; } = param;

    /// <summary>400 invalid_request_error naming <paramref name="param"/>.</summary>
    public static OpenAIException Invalid(string message, string? param = null, string code = "invalid_value") =>
        new(StatusCodes.Status400BadRequest, message, "invalid_request_error", code, param);

    /// <summary>The JSON body of the error response.</summary>
    public object ToBody() => new { error = new { message = Message, type = Type, param = Param, code = Code } };
}
