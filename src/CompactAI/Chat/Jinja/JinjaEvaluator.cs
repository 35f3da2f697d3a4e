using System.Text;

namespace CompactAI.Chat.Jinja;

/// <summary>
/// Walks the syntax tree and writes the output. Errors are reported as <see cref="ChatTemplateException"/>
/// at the position of the innermost node that failed; every step is charged to the <see cref="JinjaLimits"/> budget.
/// </summary>
internal sealed class JinjaEvaluator
{
    private enum Flow { Normal, Break, Continue }

    private readonly JinjaLimits _limits;
    private int _callDepth;

    public JinjaEvaluator(JinjaLimits limits) => _limits = limits;

    public string Render(IReadOnlyList<JinjaStatement> body, JinjaScope scope)
    {
        var sb = new StringBuilder();
        var flow = ExecBlock(body, scope, sb);
        if (flow != Flow.Normal) throw new ChatTemplateException($"'{{% {(flow == Flow.Break ? "break" : "continue")} %}}' outside of a loop");
        return sb.ToString();
    }

    // ---- statements ------------------------------------------------------------------------------------------

    private Flow ExecBlock(IReadOnlyList<JinjaStatement> body, JinjaScope scope, StringBuilder sb)
    {
        foreach (var statement in body)
        {
            var flow = Exec(statement, scope, sb);
            if (flow != Flow.Normal) return flow;
        }
        return Flow.Normal;
    }

    private Flow Exec(JinjaStatement statement, JinjaScope scope, StringBuilder sb)
    {
        try
        {
            _limits.Step();
            switch (statement)
            {
                case TextStatement text:
                    Write(sb, text.Text);
                    return Flow.Normal;
                case OutputStatement output:
                    Write(sb, JinjaOperations.ToStr(Eval(output.Expression, scope)));
                    return Flow.Normal;
                case IfStatement ifStatement:
                    foreach (var (condition, branch) in ifStatement.Branches)
                    {
                        if (JinjaOperations.IsTruthy(Eval(condition, scope))) return ExecBlock(branch, scope, sb);
                    }
                    return ExecBlock(ifStatement.Else, scope, sb);
                case ForStatement forStatement:
                    ExecFor(forStatement, scope, sb);
                    return Flow.Normal;
                case SetStatement set:
                    ExecSet(set, scope);
                    return Flow.Normal;
                case SetBlockStatement setBlock:
                {
                    var inner = new StringBuilder();
                    ExecBlockNoLoopControl(setBlock.Body, scope, inner);
                    scope.Set(setBlock.Target, inner.ToString());
                    return Flow.Normal;
                }
                case MacroStatement macro:
                    scope.Set(macro.Name, MakeMacro(macro, scope));
                    return Flow.Normal;
                case FilterBlockStatement filterBlock:
                {
                    var inner = new StringBuilder();
                    ExecBlockNoLoopControl(filterBlock.Body, scope, inner);
                    var args = EvalArguments(filterBlock.Filter, filterBlock.Arguments, scope);
                    Write(sb, JinjaOperations.ToStr(JinjaFilters.Apply(filterBlock.Filter, inner.ToString(), args, _limits)));
                    return Flow.Normal;
                }
                case LoopControlStatement control:
                    return control.IsBreak ? Flow.Break : Flow.Continue;
                case PassThroughStatement pass:
                    return ExecBlock(pass.Body, scope, sb);
                default:
                    throw new JinjaRuntimeError($"unsupported statement {statement.GetType().Name}");
            }
        }
        catch (JinjaRuntimeError e)
        {
            throw new ChatTemplateException(e.Message, statement.Line, statement.Column, e.RaisedByTemplate, e);
        }
    }

    private void ExecBlockNoLoopControl(IReadOnlyList<JinjaStatement> body, JinjaScope scope, StringBuilder sb)
    {
        if (ExecBlock(body, scope, sb) != Flow.Normal) throw new JinjaRuntimeError("'break' or 'continue' outside of a loop");
    }

    private void Write(StringBuilder sb, string text)
    {
        sb.Append(text);
        if (sb.Length > _limits.MaxOutputLength)
            throw new JinjaRuntimeError($"the rendered output exceeds the limit of {_limits.MaxOutputLength} characters");
    }

    private void ExecFor(ForStatement loop, JinjaScope scope, StringBuilder sb)
    {
        var source = Eval(loop.Iterable, scope);
        var items = JinjaOperations.Iterate(source);
        if (loop.Filter is not null)
        {
            var kept = new List<object?>();
            foreach (var item in items)
            {
                _limits.Step();
                var filterScope = new JinjaScope(scope);
                Bind(filterScope, loop.Targets, loop.UnpackTargets, item);
                if (JinjaOperations.IsTruthy(Eval(loop.Filter, filterScope))) kept.Add(item);
            }
            items = kept;
        }
        else
        {
            items = new List<object?>(items);
        }

        if (items.Count == 0)
        {
            if (ExecBlock(loop.Else, new JinjaScope(scope), sb) != Flow.Normal) throw new JinjaRuntimeError("'break' or 'continue' in a loop's else block");
            return;
        }

        var loopObject = new JinjaLoop(items);
        for (int i = 0; i < items.Count; i++)
        {
            _limits.Step();
            loopObject.Index0 = i;
            var iteration = new JinjaScope(scope);
            iteration.Set("loop", loopObject);
            Bind(iteration, loop.Targets, loop.UnpackTargets, items[i]);
            if (ExecBlock(loop.Body, iteration, sb) == Flow.Break) break;
        }
    }

    private static void Bind(JinjaScope scope, IReadOnlyList<string> targets, bool unpack, object? value)
    {
        if (!unpack)
        {
            scope.Set(targets[0], value);
            return;
        }
        var items = value is List<object?> l ? l : JinjaOperations.Iterate(value);
        if (items.Count != targets.Count)
            throw new JinjaRuntimeError($"cannot unpack {items.Count} value(s) into {targets.Count} name(s)");
        for (int i = 0; i < targets.Count; i++) scope.Set(targets[i], items[i]);
    }

    private void ExecSet(SetStatement set, JinjaScope scope)
    {
        var value = Eval(set.Value, scope);
        if (set.NamespaceAttribute is { } attribute)
        {
            if (!scope.TryGet(set.Targets[0], out var target) || target is not JinjaNamespace ns)
                throw new JinjaRuntimeError($"cannot assign attribute '{attribute}' on '{set.Targets[0]}': only namespace() objects accept attributes");
            ns.Attributes[attribute] = value;
            return;
        }
        Bind(scope, set.Targets, set.UnpackTargets, value);
    }

    private JinjaCallable MakeMacro(MacroStatement macro, JinjaScope definingScope)
    {
        JinjaCallable? self = null;
        self = new JinjaCallable(macro.Name, args =>
        {
            if (args.Positional.Count > macro.Parameters.Count)
                throw new JinjaRuntimeError($"macro '{macro.Name}' takes not more than {macro.Parameters.Count} argument(s)");
            if (++_callDepth > _limits.MaxDepth)
                throw new JinjaRuntimeError($"macro calls nest deeper than the limit of {_limits.MaxDepth}");
            try
            {
                var scope = new JinjaScope(definingScope);
                scope.Set(macro.Name, self);
                var used = new HashSet<string>(StringComparer.Ordinal);
                for (int i = 0; i < macro.Parameters.Count; i++)
                {
                    var p = macro.Parameters[i];
                    if (i < args.Positional.Count)
                    {
                        scope.Set(p.Name, args.Positional[i]);
                        continue;
                    }
                    bool found = false;
                    foreach (var (name, value) in args.Keywords)
                    {
                        if (name != p.Name) continue;
                        scope.Set(p.Name, value);
                        used.Add(name);
                        found = true;
                    }
                    if (!found)
                        scope.Set(p.Name, p.Default is null ? new JinjaUndefined($"parameter '{p.Name}' of macro '{macro.Name}' was not provided") : Eval(p.Default, scope));
                }
                foreach (var (name, _) in args.Keywords)
                    if (!used.Contains(name)) throw new JinjaRuntimeError($"macro '{macro.Name}' takes no keyword argument '{name}'");
                var sb = new StringBuilder();
                ExecBlockNoLoopControl(macro.Body, scope, sb);
                return sb.ToString();
            }
            finally
            {
                _callDepth--;
            }
        });
        return self;
    }

    // ---- expressions -----------------------------------------------------------------------------------------

    public object? Eval(JinjaExpression expression, JinjaScope scope)
    {
        try
        {
            _limits.Step();
            return EvalCore(expression, scope);
        }
        catch (JinjaRuntimeError e)
        {
            throw new ChatTemplateException(e.Message, expression.Line, expression.Column, e.RaisedByTemplate, e);
        }
    }

    private object? EvalCore(JinjaExpression expression, JinjaScope scope)
    {
        switch (expression)
        {
            case LiteralExpression literal:
                return literal.Value;
            case NameExpression name:
                return scope.TryGet(name.Name, out var value) ? value : new JinjaUndefined($"'{name.Name}' is undefined");
            case ListExpression list:
            {
                var items = list.Items.Select(item => Eval(item, scope));
                return list.IsTuple ? new JinjaTuple(items) : items.ToList();
            }
            case DictExpression dict:
            {
                var result = new OrderedDictionary<string, object?>(StringComparer.Ordinal);
                foreach (var (k, v) in dict.Items)
                {
                    if (Eval(k, scope) is not string key) throw new JinjaRuntimeError("dictionary keys must be strings");
                    result[key] = Eval(v, scope);
                }
                return result;
            }
            case AttributeExpression attribute:
                return JinjaAccess.GetAttribute(Eval(attribute.Target, scope), attribute.Name, _limits);
            case ItemExpression item:
                return JinjaAccess.GetItem(Eval(item.Target, scope), Eval(item.Key, scope), _limits);
            case SliceExpression slice:
                return EvalSlice(slice, scope);
            case CallExpression call:
            {
                var callee = Eval(call.Callee, scope);
                if (callee is JinjaCallable function) return function.Invoke(EvalArguments(function.Name, call.Arguments, scope));
                if (callee is JinjaUndefined u) throw new JinjaRuntimeError($"{u.Description} (and cannot be called)");
                throw new JinjaRuntimeError($"'{JinjaOperations.TypeName(callee)}' object is not callable");
            }
            case FilterExpression filter:
            {
                if (!JinjaFilters.Exists(filter.Name)) throw new JinjaRuntimeError($"no filter named '{filter.Name}'");
                var operand = Eval(filter.Operand, scope);
                return JinjaFilters.Apply(filter.Name, operand, EvalArguments(filter.Name, filter.Arguments, scope), _limits);
            }
            case TestExpression test:
            {
                if (!JinjaTestFunctions.Exists(test.Name)) throw new JinjaRuntimeError($"no test named '{test.Name}'");
                var operand = Eval(test.Operand, scope);
                var args = test.Arguments.Positional.Select(a => Eval(a, scope)).ToList();
                return JinjaTestFunctions.Apply(test.Name, operand, args) != test.Negated;
            }
            case UnaryExpression unary:
            {
                var operand = Eval(unary.Operand, scope);
                switch (unary.Operator)
                {
                    case "not": return !JinjaOperations.IsTruthy(operand);
                    case "-" when operand is long l: return l == long.MinValue ? throw new JinjaRuntimeError("integer overflow") : -l;
                    case "-" when operand is double d: return -d;
                    case "-" when operand is bool b: return b ? -1L : 0L;
                    case "+" when operand is long or double: return operand;
                    case "+" when operand is bool b: return b ? 1L : 0L;
                    default: throw new JinjaRuntimeError($"bad operand type for unary {unary.Operator}: '{JinjaOperations.TypeName(operand)}'");
                }
            }
            case BinaryExpression binary:
            {
                var left = Eval(binary.Left, scope);
                if (binary.Operator == "and") return JinjaOperations.IsTruthy(left) ? Eval(binary.Right, scope) : left;
                if (binary.Operator == "or") return JinjaOperations.IsTruthy(left) ? left : Eval(binary.Right, scope);
                return JinjaArithmetic.Binary(binary.Operator, left, Eval(binary.Right, scope), _limits);
            }
            case CompareExpression compare:
            {
                var left = Eval(compare.First, scope);
                foreach (var (op, operandExpression) in compare.Rest)
                {
                    var right = Eval(operandExpression, scope);
                    if (!CompareOnce(op, left, right)) return false;
                    left = right;
                }
                return true;
            }
            case ConditionalExpression conditional:
                if (JinjaOperations.IsTruthy(Eval(conditional.Condition, scope))) return Eval(conditional.Then, scope);
                return conditional.Otherwise is null ? new JinjaUndefined("the conditional expression had no else branch") : Eval(conditional.Otherwise, scope);
            default:
                throw new JinjaRuntimeError($"unsupported expression {expression.GetType().Name}");
        }
    }

    private static bool CompareOnce(string op, object? left, object? right)
    {
        switch (op)
        {
            case "==": return JinjaOperations.PyEquals(left, right);
            case "!=": return !JinjaOperations.PyEquals(left, right);
            case "in": return JinjaOperations.Contains(right, left);
            case "not in": return !JinjaOperations.Contains(right, left);
        }
        if (left is JinjaUndefined u) throw new JinjaRuntimeError($"{u.Description} (used in a '{op}' comparison)");
        if (right is JinjaUndefined v) throw new JinjaRuntimeError($"{v.Description} (used in a '{op}' comparison)");
        int c = JinjaOperations.Compare(left, right, op);
        return op switch
        {
            "<" => c < 0,
            "<=" => c <= 0,
            ">" => c > 0,
            ">=" => c >= 0,
            _ => throw new JinjaRuntimeError($"unknown comparison '{op}'"),
        };
    }

    private object? EvalSlice(SliceExpression slice, JinjaScope scope)
    {
        var target = Eval(slice.Target, scope);
        long? Bound(JinjaExpression? e)
        {
            if (e is null) return null;
            var v = Eval(e, scope);
            return v is null or JinjaUndefined ? null : v is long or bool ? JinjaOperations.ToLong(v)
                : throw new JinjaRuntimeError("slice indices must be integers or None");
        }
        long? start = Bound(slice.Start), stop = Bound(slice.Stop), step = Bound(slice.Step);
        return target switch
        {
            List<object?> list => JinjaOperations.Slice(list, start, stop, step),
            string s => string.Concat(JinjaOperations.Slice(CodePoints.HasSurrogates(s) ? CodePoints.Split(s) : s.Select(c => c.ToString()).ToList(), start, stop, step)),
            JinjaUndefined u => throw new JinjaRuntimeError($"{u.Description} (cannot be sliced)"),
            _ => throw new JinjaRuntimeError($"'{JinjaOperations.TypeName(target)}' object is not subscriptable"),
        };
    }

    private JinjaCallArguments EvalArguments(string callee, JinjaArguments arguments, JinjaScope scope)
    {
        var positional = new List<object?>(arguments.Positional.Count);
        foreach (var a in arguments.Positional) positional.Add(Eval(a, scope));
        var keywords = new List<(string, object?)>(arguments.Keywords.Count);
        foreach (var (name, e) in arguments.Keywords) keywords.Add((name, Eval(e, scope)));
        return new JinjaCallArguments(callee, positional, keywords);
    }
}
