using CompactAI.Chat;

namespace CompactAI.Tests.Chat;

/// <summary>Errors carry the template position; resource limits stop hostile templates instead of hanging or allocating without bound.</summary>
public sealed class JinjaErrorAndLimitTests
{
    private static ChatTemplateException ParseError(string source) => Assert.Throws<ChatTemplateException>(() => ChatTemplate.Parse(source));

    private static ChatTemplateException RenderError(string source, ChatTemplateOptions? options = null) =>
        Assert.Throws<ChatTemplateException>(() => ChatTemplate.Parse(source, options: options).Render(Array.Empty<ChatTurn>(), false));

    [Theory]
    [InlineData("Hello\n{% if x %}\n  {{ 1 + }}\n{% endif %}", 3, 10, "expression")]
    [InlineData("{% if true %}never closed", 1, 26, "endif")]
    [InlineData("a\n  {% frobnicate %}", 2, 6, "unknown statement 'frobnicate'")]
    [InlineData("{{ 'unterminated }}", 1, 4, "unterminated string")]
    [InlineData("ok {# comment", 1, 4, "unterminated comment")]
    [InlineData("{{ x ", 1, 1, "never closed")]
    [InlineData("{% for x in y %}{% endif %}", 1, 20, "expected 'else' or 'endfor'")]
    [InlineData("{% endfor %}", 1, 4, "unexpected '{% endfor %}'")]
    [InlineData("{{ [1, 2 }}", 1, 10, "unexpected '}', expected ']'")]
    [InlineData("{{ f(a=1, 2) }}", 1, 11, "positional argument follows a keyword")]
    public void Syntax_errors_report_line_and_column(string source, int line, int column, string fragment)
    {
        var e = ParseError(source);
        Assert.Equal(line, e.Line);
        Assert.Equal(column, e.Column);
        Assert.Contains(fragment, e.Message);
        Assert.Contains($"line {line}, column {column}", e.Message);
        Assert.False(e.RaisedByTemplate);
    }

    [Theory]
    [InlineData("line one\n  {{ nope.attr }}", 2, "'nope' is undefined")]
    [InlineData("{% for m in messages %}\n{{ m.content + 1 }}{% endfor %}", 2, "unsupported operand")]
    [InlineData("\n\n{{ 'a'|frobnicate }}", 3, "no filter named 'frobnicate'")]
    [InlineData("{{ x is frobnicated }}", 1, "no test named 'frobnicated'")]
    [InlineData("{% set d = {} %}\n{% set d.k = 1 %}", 2, "namespace")]
    [InlineData("{{ 1 // 0 }}", 1, "division by zero")]
    [InlineData("{{ undefined_thing() }}", 1, "undefined")]
    [InlineData("{{ nope|tojson }}", 1, "not JSON serializable")]
    public void Runtime_errors_report_the_failing_line(string source, int line, string fragment)
    {
        var template = ChatTemplate.Parse(source);
        var e = Assert.Throws<ChatTemplateException>(() => template.Render(new[] { new ChatTurn("user", "x") }, false));
        Assert.Equal(line, e.Line);
        Assert.Contains(fragment, e.Message);
    }

    [Fact]
    public void Undefined_values_print_empty_and_are_falsy_but_fail_when_used()
    {
        var t = ChatTemplate.Parse("[{{ nope }}][{% if nope %}t{% else %}f{% endif %}][{{ nope|default('d') }}][{{ nope is defined }}][{% for x in nope %}x{% endfor %}]");
        Assert.Equal("[][f][d][False][]", t.Render(Array.Empty<ChatTurn>(), false));
        RenderError("{{ nope.x }}");
        RenderError("{{ nope['x'] }}");
        RenderError("{{ nope + 'x' }}");
        RenderError("{{ nope < 1 }}");
        RenderError("{{ nope() }}");
    }

    [Fact]
    public void Loop_step_limit_stops_runaway_loops()
    {
        var e = RenderError("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", new ChatTemplateOptions { MaxSteps = 100_000 });
        Assert.Contains("evaluation steps", e.Message);
    }

    [Fact]
    public void Output_limit_stops_large_outputs()
    {
        var options = new ChatTemplateOptions { MaxOutputLength = 10_000 };
        Assert.Contains("limit", RenderError("{% for i in range(1000) %}{{ 'xxxxxxxxxxxxxxxxxxxx' }}{% endfor %}", options).Message);
        Assert.Contains("limit", RenderError("{{ 'a' * 1000000000000 }}", options).Message);
        Assert.Contains("limit", RenderError("{{ range(1000000000000)|length }}", options).Message);
        Assert.Contains("limit", RenderError("{{ [1] * 1000000000000 }}", options).Message);
        Assert.Contains("limit", RenderError("{% set s = 'a' * 5000 %}{{ s ~ s ~ s }}", options).Message);
        Assert.Contains("limit", RenderError("{% set s = 'a' * 5000 %}{{ s.replace('a', 'bbbbb') }}", options).Message);
        Assert.Equal(10_000, ChatTemplate.Parse("{{ 'a' * 10000 }}", options: options).Render(Array.Empty<ChatTurn>(), false).Length);
    }

    [Fact]
    public void Recursion_limits_stop_unbounded_macros_and_deep_nesting()
    {
        Assert.Contains("nest deeper", RenderError("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}").Message);
        string deep = new string('(', 5000) + "1" + new string(')', 5000);
        Assert.Contains("nesting", ParseError("{{ " + deep + " }}").Message);
        string deepBlocks = string.Concat(Enumerable.Repeat("{% if true %}", 5000)) + string.Concat(Enumerable.Repeat("{% endif %}", 5000));
        Assert.Contains("nesting", ParseError(deepBlocks).Message);
        Assert.Contains("nested too deeply", RenderError("{% set ns = namespace() %}{% set ns.me = ns %}{{ ns }}").Message);
    }

    [Fact]
    public void Break_outside_a_loop_is_an_error()
    {
        RenderError("{% break %}");
        RenderError("{% macro m() %}{% continue %}{% endmacro %}{% for i in [1] %}{{ m() }}{% endfor %}");
    }
}
