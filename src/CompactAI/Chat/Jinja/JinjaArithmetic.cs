namespace CompactAI.Chat.Jinja;

/// <summary>Python's arithmetic and concatenation operators on runtime values (<c>+ - * / // % ** ~</c>).</summary>
internal static class JinjaArithmetic
{
    public static object? Binary(string op, object? left, object? right, JinjaLimits limits)
    {
        if (op == "~") return limits.CheckString(JinjaOperations.ToStr(left) + JinjaOperations.ToStr(right));
        if (left is JinjaUndefined u) throw new JinjaRuntimeError($"{u.Description} (used as an operand of '{op}')");
        if (right is JinjaUndefined v) throw new JinjaRuntimeError($"{v.Description} (used as an operand of '{op}')");

        if (JinjaOperations.IsNumber(left) && JinjaOperations.IsNumber(right)) return Numeric(op, left, right);

        switch (op)
        {
            case "+" when left is string a && right is string b:
                limits.CheckLength((long)a.Length + b.Length);
                return a + b;
            case "+" when left is List<object?> la && right is List<object?> lb:
                limits.CheckCount((long)la.Count + lb.Count, "a list");
                return la.Concat(lb).ToList();
            case "*" when left is string s && right is long or bool:
                return Repeat(s, JinjaOperations.ToLong(right), limits);
            case "*" when right is string s && left is long or bool:
                return Repeat(s, JinjaOperations.ToLong(left), limits);
            case "*" when left is List<object?> l && right is long or bool:
                return RepeatList(l, JinjaOperations.ToLong(right), limits);
            case "*" when right is List<object?> l && left is long or bool:
                return RepeatList(l, JinjaOperations.ToLong(left), limits);
        }
        throw new JinjaRuntimeError($"unsupported operand type(s) for {op}: '{JinjaOperations.TypeName(left)}' and '{JinjaOperations.TypeName(right)}'");
    }

    private static string Repeat(string s, long times, JinjaLimits limits)
    {
        if (times <= 0 || s.Length == 0) return "";
        limits.CheckLength(s.Length * times);
        return new System.Text.StringBuilder(s.Length * (int)times).Insert(0, s, (int)times).ToString();
    }

    private static List<object?> RepeatList(List<object?> l, long times, JinjaLimits limits)
    {
        if (times <= 0) return new List<object?>();
        limits.CheckCount(l.Count * times, "a list");
        var result = new List<object?>((int)(l.Count * times));
        for (long i = 0; i < times; i++) result.AddRange(l);
        return result;
    }

    private static object Numeric(string op, object? left, object? right)
    {
        bool isFloat = left is double || right is double;
        if (op == "/")
        {
            double divisor = JinjaOperations.ToDouble(right);
            if (divisor == 0) throw new JinjaRuntimeError("division by zero");
            return JinjaOperations.ToDouble(left) / divisor;
        }
        if (isFloat)
        {
            double a = JinjaOperations.ToDouble(left), b = JinjaOperations.ToDouble(right);
            switch (op)
            {
                case "+": return a + b;
                case "-": return a - b;
                case "*": return a * b;
                case "**": return Math.Pow(a, b);
                case "//":
                    if (b == 0) throw new JinjaRuntimeError("float floor division by zero");
                    return Math.Floor(a / b);
                case "%":
                {
                    if (b == 0) throw new JinjaRuntimeError("float modulo by zero");
                    double r = a % b;
                    return r != 0 && (r < 0) != (b < 0) ? r + b : r;
                }
            }
        }
        else
        {
            long a = JinjaOperations.ToLong(left), b = JinjaOperations.ToLong(right);
            try
            {
                checked
                {
                    switch (op)
                    {
                        case "+": return a + b;
                        case "-": return a - b;
                        case "*": return a * b;
                        case "**":
                            if (b < 0) return Math.Pow(a, b);
                            long result = 1, power = a, e = b;
                            while (e > 0)
                            {
                                if ((e & 1) == 1) result *= power;
                                e >>= 1;
                                if (e > 0) power *= power;
                            }
                            return result;
                        case "//":
                        {
                            if (b == 0) throw new JinjaRuntimeError("integer division by zero");
                            long q = a / b;
                            return (a % b != 0) && ((a < 0) != (b < 0)) ? q - 1 : q;
                        }
                        case "%":
                        {
                            if (b == 0) throw new JinjaRuntimeError("integer modulo by zero");
                            long r = a % b;
                            return r != 0 && (r < 0) != (b < 0) ? r + b : r;
                        }
                    }
                }
            }
            catch (OverflowException)
            {
                throw new JinjaRuntimeError($"integer overflow in '{op}'");
            }
        }
        throw new JinjaRuntimeError($"unknown operator '{op}'");
    }
}
