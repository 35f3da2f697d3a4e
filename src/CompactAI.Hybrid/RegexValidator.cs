using System.Text.RegularExpressions;
using Microsoft.Extensions.AI;

namespace CompactAI.Hybrid;

/// <summary>Accepts an answer whose text matches (or, with <c>mustMatch: false</c>, does not match) a regular expression.</summary>
public sealed class RegexValidator : IResponseValidator
{
    private readonly Regex _regex;
    private readonly bool _mustMatch;

    /// <summary>Creates the validator.</summary>
    /// <param name="regex">The pattern; give it a match timeout if it comes from configuration.</param>
    /// <param name="mustMatch"><see langword="true"/>: the text must match; <see langword="false"/>: it must not.</param>
    /// <param name="name">Name recorded in decisions; defaults to <c>regex</c>.</param>
    public RegexValidator(Regex regex, bool mustMatch = true, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(regex);
        _regex = regex;
        _mustMatch = mustMatch;
        Name = name ?? "regex";
    }

    /// <summary>Creates the validator from a pattern (compiled with a one-second match timeout).</summary>
    /// <param name="pattern">The pattern.</param>
    /// <param name="mustMatch"><see langword="true"/>: the text must match; <see langword="false"/>: it must not.</param>
    /// <param name="name">Name recorded in decisions; defaults to <c>regex</c>.</param>
    public RegexValidator(string pattern, bool mustMatch = true, string? name = null)
        : this(new Regex(pattern, RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1)), mustMatch, name)
    {
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <inheritdoc />
    public ValueTask<ResponseValidationResult> ValidateAsync(ChatResponse response, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(response);
        bool matched;
        try
        {
            matched = _regex.IsMatch(response.Text);
        }
        catch (RegexMatchTimeoutException)
        {
            return ValueTask.FromResult(ResponseValidationResult.Fail(Name, "pattern timed out"));
        }

        return ValueTask.FromResult(matched == _mustMatch
            ? ResponseValidationResult.Pass(Name)
            : ResponseValidationResult.Fail(Name, _mustMatch ? $"text does not match /{_regex}/" : $"text matches forbidden /{_regex}/"));
    }
}
